using LlamaAdapter.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Model;

public sealed class TensorOpsTests
{
    [Fact]
    public void AgreeWithTheOperatorsAndSurviveScopesAndCollections()
    {
        using var a = tensor(new float[] { 1.5f, -2f, 3.25f });
        using var b = tensor(new float[] { 0.5f, 4f, -1f });
        using var s = 2.5.ToScalar();
        for (int i = 0; i < 3; i++)
        {
            using (var scope = NewDisposeScope())
            {
                Assert.Equal(new[] { 2f, 2f, 2.25f }, a.Plus(b).data<float>().ToArray());
                Assert.Equal(new[] { 1f, -6f, 4.25f }, a.Minus(b).data<float>().ToArray());
                Assert.Equal(new[] { 4f, 0.5f, 5.75f }, a.Plus(s).data<float>().ToArray());
                var c = a.clone();
                c.PlusInPlace(b);
                Assert.Equal(new[] { 2f, 2f, 2.25f }, c.data<float>().ToArray());
            }
            // The shared Scalars are neither scope-owned nor collectable: still valid after both have run.
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
    }
}
