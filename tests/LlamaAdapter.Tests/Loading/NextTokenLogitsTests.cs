using LlamaAdapter.Core;
using LlamaAdapter.Training.Loading;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Loading;

public class NextTokenLogitsTests(LoadingFiles files) : IClassFixture<LoadingFiles>
{
    [Fact]
    public void LastPosition_MatchesTheFullForward_AndTopIsSorted()
    {
        using var scope = NewDisposeScope();
        var model = PretrainedLlama.Load(files.GgufF32);
        long[] ids = [1, 5, 96, 0, 42];
        var last = NextTokenLogits.Compute(model, ids);
        var full = model.forward(tensor(ids, [1, 5], ScalarType.Int64));
        Assert.Equal(full[0, 4].data<float>().ToArray(), last);

        var top = NextTokenLogits.Top(last, 5);
        Assert.Equal(5, top.Count);
        Assert.Equal(Array.IndexOf(last, last.Max()), top[0].Id);
        Assert.True(top.Zip(top.Skip(1)).All(p => p.First.Logit >= p.Second.Logit));
        // Probabilities against torch's softmax in float64.
        var p = tensor(last).to(ScalarType.Float64).softmax(0).data<double>().ToArray();
        foreach (var t in top) Assert.Equal(p[t.Id], t.Probability, 1e-12);
    }

    [Fact]
    public void BadIds_AreRefused()
    {
        using var scope = NewDisposeScope();
        var model = PretrainedLlama.Load(files.GgufF32);
        Assert.Contains("outside the vocabulary [0, 97)", Assert.Throws<BadInputException>(() => NextTokenLogits.Compute(model, [1, 97])).Message);
        Assert.Throws<BadInputException>(() => NextTokenLogits.Compute(model, []));
        Assert.Throws<BadInputException>(() => NextTokenLogits.Top([1f], 0));
    }

    [Fact]
    public void WriteRaw_IsVocabFloat32LittleEndian_AndLeavesNoTemp()
    {
        var logits = new[] { 1.5f, -2f, float.MaxValue };
        string path = files.P("logits.f32");
        NextTokenLogits.WriteRaw(path, logits);
        var bytes = File.ReadAllBytes(path);
        Assert.Equal(12, bytes.Length);
        Assert.Equal(logits, Enumerable.Range(0, 3).Select(i => BitConverter.ToSingle(bytes, 4 * i)));
        Assert.DoesNotContain(Directory.GetFiles(files.Root.FullName), f => f.EndsWith(".tmp", StringComparison.Ordinal));
    }
}
