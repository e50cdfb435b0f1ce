using LlamaAdapter.Tests.Model;
using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Model;
using LlamaAdapter.Training.Pipeline;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Training;

/// <summary>
/// The chunked loss against the plain one (full logits → float32 cross-entropy) on the tiny LLaMA in float32:
/// loss value and every adapter gradient agree within 1e-6 absolute (both are the same sums in a different order).
/// </summary>
public sealed class ChunkedCrossEntropyTests
{
    private const double Tol = 1e-6;

    private static LlamaModel Build(AdapterKind kind, bool tied)
    {
        var model = new TinyLlama(TinyLlama.DefaultConfig(tied: tied), seed: 5).Build();
        var a = kind == AdapterKind.Nonlinear ? new AdapterConfig(kind, PromptLength: 3, Layers: 2, HyperEmbedDim: 8, HyperHidden: 8)
                                               : new AdapterConfig(kind, PromptLength: 3, Layers: 2);
        using var g = new Generator(23);
        model.AttachNewAdapter(a, g);
        // Gates start at 0, which would make every prompt gradient 0: open them so all gradients are exercised.
        using (no_grad())
            foreach (var (name, p) in model.TrainableParameters())
                if (name.Contains("gate", StringComparison.Ordinal)) p.fill_(0.4);
        return model;
    }

    /// <summary>Labels [B, T] with ignored (0) prompt positions at each row's start.</summary>
    private static Tensor Labels(long[,] ids)
    {
        var l = (long[,])ids.Clone();
        for (int i = 0; i < l.GetLength(0); i++)
            for (int j = 0; j < 3 + i; j++) l[i, j] = 0;
        return TinyLlama.IdsTensor(l);
    }

    private static (double Loss, Dictionary<string, float[]> Grads) LossAndGrads(LlamaModel m, Tensor ids, Tensor labels, long? chunk, double scale = 1)
    {
        using var scope = NewDisposeScope();
        var loss = chunk is { } c ? ChunkedCrossEntropy.Compute(m.ForwardHidden(ids), labels, m.Logits, c)
                                  : CausalLmLoss.Compute(m.forward(ids), labels);
        (loss * scale).backward();
        var grads = m.TrainableParameters().ToDictionary(p => p.Name, p => p.Parameter.grad!.detach().contiguous().data<float>().ToArray());
        return (loss.item<float>(), grads);
    }

    [Theory]
    [InlineData(AdapterKind.Linear, false, 1L)]
    [InlineData(AdapterKind.Linear, false, 5L)]
    [InlineData(AdapterKind.Linear, true, 7L)]
    [InlineData(AdapterKind.Nonlinear, false, 4L)]
    [InlineData(AdapterKind.Nonlinear, true, 4096L)]
    [InlineData(AdapterKind.Prefix, false, 3L)]
    public void LossAndGradients_MatchFullCrossEntropy(AdapterKind kind, bool tied, long chunk)
    {
        var idsArr = TinyLlama.Ids(b: 3, t: 11);
        using var ids = TinyLlama.IdsTensor(idsArr);
        using var labels = Labels(idsArr);
        using var full = Build(kind, tied);
        using var chunked = Build(kind, tied);

        var (lf, gf) = LossAndGrads(full, ids, labels, chunk: null);
        var (lc, gc) = LossAndGrads(chunked, ids, labels, chunk);

        Assert.True(lf > 1, $"loss {lf} should be a real cross-entropy over 97 tokens");
        Assert.InRange(Math.Abs(lf - lc), 0, Tol);
        Assert.Equal(gf.Keys.Order(), gc.Keys.Order());
        double maxGrad = 0;
        foreach (var (name, g) in gf)
        {
            Assert.Equal(g.Length, gc[name].Length);
            for (int i = 0; i < g.Length; i++)
            {
                Assert.True(Math.Abs(g[i] - gc[name][i]) <= Tol, $"{name}[{i}]: full {g[i]}, chunked {gc[name][i]}");
                maxGrad = Math.Max(maxGrad, Math.Abs(g[i]));
            }
        }
        Assert.True(maxGrad > 1e-3, "gradients should not all vanish");
    }

    [Fact]
    public void ScaledLoss_ScalesGradients_AsAccumulationDoes()
    {
        var idsArr = TinyLlama.Ids(b: 2, t: 9);
        using var ids = TinyLlama.IdsTensor(idsArr);
        using var labels = Labels(idsArr);
        using var a = Build(AdapterKind.Linear, false);
        using var b = Build(AdapterKind.Linear, false);
        var (_, g1) = LossAndGrads(a, ids, labels, chunk: null, scale: 0.25);
        var (_, g2) = LossAndGrads(b, ids, labels, chunk: 4, scale: 0.25);
        foreach (var (name, g) in g1)
            for (int i = 0; i < g.Length; i++) Assert.True(Math.Abs(g[i] - g2[name][i]) <= Tol, name);
    }

    [Fact]
    public void WithoutGrad_GivesTheSameValue()
    {
        var idsArr = TinyLlama.Ids(b: 2, t: 9);
        using var ids = TinyLlama.IdsTensor(idsArr);
        using var labels = Labels(idsArr);
        using var m = Build(AdapterKind.Linear, false);
        using var _ = no_grad();
        using var full = CausalLmLoss.Compute(m.forward(ids), labels);
        using var hidden = m.ForwardHidden(ids);
        using var chunked = ChunkedCrossEntropy.Compute(hidden, labels, m.Logits, 5);
        Assert.False(chunked.requires_grad);
        Assert.InRange(Math.Abs(full.item<float>() - chunked.item<float>()), 0, Tol);
    }

    [Fact]
    public void NoCountedToken_IsNaN_AsTheFullLossIs()
    {
        using var ids = TinyLlama.IdsTensor(TinyLlama.Ids(b: 2, t: 9));
        using var labels = zeros([2, 9], ScalarType.Int64);
        using var m = Build(AdapterKind.Linear, false);
        using var full = CausalLmLoss.Compute(m.forward(ids), labels);
        using var chunked = ChunkedCrossEntropy.Compute(m.ForwardHidden(ids), labels, m.Logits, 4);
        Assert.True(float.IsNaN(full.item<float>()));
        Assert.True(float.IsNaN(chunked.item<float>()));
    }

    [Fact]
    public void MismatchedShapes_AreRefused()
    {
        using var hidden = zeros(2, 9, 64);
        using var labels = zeros([2, 8], ScalarType.Int64);
        Assert.Throws<ArgumentException>(() => ChunkedCrossEntropy.Compute(hidden, labels, h => h));
    }
}
