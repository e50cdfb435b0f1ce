using LlamaAdapter.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Foundation;

public class TorchSharpGradientTests
{
    [Fact]
    public void Backward_GivesTheAnalyticGradient()
    {
        // f(x, W) = sum(tanh(W x) ^ 2); df/dW = (2 tanh(Wx) (1 - tanh^2(Wx))) x^T, computed here by hand.
        using var scope = NewDisposeScope();
        var x = tensor(new float[] { 0.5f, -1.0f, 2.0f });
        var w = tensor(new float[] { 0.1f, 0.2f, -0.3f, 0.4f, -0.5f, 0.6f }, new long[] { 2, 3 }).requires_grad_();
        var loss = tanh(matmul(w, x)).pow(2).sum();
        loss.backward();

        float[] xs = [0.5f, -1.0f, 2.0f];
        float[,] ws = { { 0.1f, 0.2f, -0.3f }, { 0.4f, -0.5f, 0.6f } };
        var grad = w.grad!.data<float>().ToArray();
        for (int i = 0; i < 2; i++)
        {
            double z = 0;
            for (int j = 0; j < 3; j++) z += ws[i, j] * xs[j];
            double t = Math.Tanh(z), g = 2 * t * (1 - t * t);
            for (int j = 0; j < 3; j++)
                Assert.Equal(g * xs[j], grad[i * 3 + j], 1e-6);
        }
    }

    [Fact]
    public void ParseDevice_RejectsUnknownNamesWithAClearMessage()
    {
        Assert.Equal(DeviceType.CPU, TorchRuntime.ParseDevice("cpu").type);
        var e = Assert.Throws<ArgumentException>(() => TorchRuntime.ParseDevice("tpu"));
        Assert.Contains("expected cpu, cuda", e.Message);
    }
}
