using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Model;

/// <summary>Properties that must hold exactly or to rounding, whatever the weights.</summary>
public class ModelInvarianceTests
{
    [Theory]
    [InlineData(AdapterKind.Linear)]
    [InlineData(AdapterKind.Nonlinear)]
    public void ZeroGate_LogitsAreBitIdenticalToTheFrozenModel(AdapterKind kind)
    {
        // tanh(0) = 0: the reference starts exactly as frozen LLaMA (seed-code §2.2), prompts N(0,1) or not.
        using var scope = NewDisposeScope();
        var w = new TinyLlama(TinyLlama.DefaultConfig());
        var ids = TinyLlama.IdsTensor(TinyLlama.Ids());
        var frozen = w.Build().forward(ids);
        var model = w.Build();
        model.AttachNewAdapter(new AdapterConfig(kind, PromptLength: 10, Layers: 2), new Generator(4));
        var adapted = model.forward(ids);
        Assert.Equal(frozen.data<float>().ToArray(), adapted.data<float>().ToArray());
    }

    [Fact]
    public void Prefix_DiffersFromGatedWithTheSamePrompts()
    {
        using var scope = NewDisposeScope();
        var w = new TinyLlama(TinyLlama.DefaultConfig());
        var ids = TinyLlama.IdsTensor(TinyLlama.Ids());
        var gatedModel = w.Build();
        var gated = gatedModel.AttachNewAdapter(new AdapterConfig(AdapterKind.Linear, PromptLength: 6, Layers: 2), new Generator(9));
        var prefixModel = w.Build();
        var prefix = prefixModel.AttachNewAdapter(new AdapterConfig(AdapterKind.Prefix, PromptLength: 6, Layers: 2), new Generator(9));
        // Same generator, same draws: identical prompts, only the attention formula differs.
        Assert.True(Param(gated, "prompts").eq(Param(prefix, "prompts")).all().item<bool>());
        Assert.DoesNotContain(prefix.named_parameters(), p => p.name == "gates");
        var a = gatedModel.forward(ids);
        var b = prefixModel.forward(ids);
        Assert.True((a - b).abs().max().item<float>() > 1e-2);
        Assert.True((w.Build().forward(ids) - b).abs().max().item<float>() > 1e-2);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GroupedQuery_EqualsMultiHeadWithRepeatedKvWeights(bool withAdapter)
    {
        using var scope = NewDisposeScope();
        var gqa = new TinyLlama(TinyLlama.DefaultConfig(nKvHeads: 2));
        var c = gqa.Config;
        int d = c.HeadDim, rep = c.NHeads / c.NKvHeads;
        // MHA head h gets kv head h / rep's rows (Meta repeat_kv / HF repeat_kv order).
        var mha = gqa.With(TinyLlama.DefaultConfig(nKvHeads: 4), (name, v) =>
        {
            if (!name.EndsWith("attention.wk.weight") && !name.EndsWith("attention.wv.weight")) return v;
            var o = new float[c.Dim * c.Dim];
            for (int h = 0; h < c.NHeads; h++)
                Array.Copy(v, (h / rep) * d * c.Dim, o, h * d * c.Dim, d * c.Dim);
            return o;
        });
        var ids = TinyLlama.IdsTensor(TinyLlama.Ids());
        var m1 = gqa.Build();
        var m2 = mha.Build();
        if (withAdapter)
            foreach (var m in new[] { m1, m2 })
                AdapterReference.Perturb(m.AttachNewAdapter(new AdapterConfig(AdapterKind.Linear, PromptLength: 4, Layers: 3), new Generator(1)));
        Assert.InRange((m1.forward(ids) - m2.forward(ids)).abs().max().item<float>(), 0, 1e-6);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(AdapterKind.Linear)]
    [InlineData(AdapterKind.Prefix)]
    public void Interleaved_OnMetaWeights_EqualsHalfSplit_OnPermutedWeights(AdapterKind? kind)
    {
        using var scope = NewDisposeScope();
        var meta = new TinyLlama(TinyLlama.DefaultConfig());
        var c = meta.Config;
        var hf = meta.With(c, (name, v) =>
            name.EndsWith("attention.wq.weight") ? TinyLlama.PermuteToHalfSplit(v, c.NHeads, c.Dim, c.Dim)
            : name.EndsWith("attention.wk.weight") ? TinyLlama.PermuteToHalfSplit(v, c.NKvHeads, c.KvDim, c.Dim)
            : v);
        var ids = TinyLlama.IdsTensor(TinyLlama.Ids());
        var m1 = meta.Build(RopeLayout.Interleaved);
        var m2 = hf.Build(RopeLayout.HalfSplit);
        if (kind is { } k)
            foreach (var m in new[] { m1, m2 })
                AdapterReference.Perturb(m.AttachNewAdapter(new AdapterConfig(k, PromptLength: 4, Layers: 2), new Generator(6)));
        Assert.InRange((m1.forward(ids) - m2.forward(ids)).abs().max().item<float>(), 0, 1e-5);
        // The permutation matters: HalfSplit on the unpermuted weights is a different model.
        if (kind is null)
            Assert.True((m1.forward(ids) - meta.Build(RopeLayout.HalfSplit).forward(ids)).abs().max().item<float>() > 1e-3);
    }

    internal static Tensor Param(nn.Module m, string name) => m.named_parameters().Single(p => p.name == name).parameter;
}
