using LlamaAdapter.Core;
using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Model;

/// <summary>The paper's extracted-adapter names (NL extract_adapter_from_checkpoint.py) map onto ours without loss.</summary>
public class ReferenceCheckpointTests
{
    /// <summary>Our adapter written out under NL's names, gates for every layer as the extract script keeps them.</summary>
    private static Dictionary<string, Tensor> AsReferenceNames(PromptAdapter a, int nLayers, int nHeads, int dim)
    {
        var p = a.named_parameters().ToDictionary(x => x.name, x => x.parameter.detach());
        var d = new Dictionary<string, Tensor>();
        if (p.TryGetValue("prompts", out var prompts)) d["adapter_query.weight"] = prompts.reshape(-1, dim);
        foreach (var (ours, theirs) in new[] { ("hyper.layer_embed", "hyperAdapter.layer_embed.weight"),
                     ("hyper.linear1.weight", "hyperAdapter.decoder.linear1.weight"), ("hyper.linear1.bias", "hyperAdapter.decoder.linear1.bias"),
                     ("hyper.prompt.weight", "hyperAdapter.decoder.prompt.weight"), ("hyper.prompt.bias", "hyperAdapter.decoder.prompt.bias") })
            if (p.TryGetValue(ours, out var t)) d[theirs] = t.to(ScalarType.Float16); // NL inference keeps them fp16
        for (int i = 0; i < nLayers; i++)
            d[$"layers.{i}.attention.gate"] = i < a.FirstLayer || !p.ContainsKey("gates")
                ? zeros(1, nHeads, 1, 1) : p["gates"][i - a.FirstLayer].view(1, nHeads, 1, 1);
        return d;
    }

    [Theory]
    [InlineData(AdapterKind.Linear, GateMode.PerHeadTanh)]
    [InlineData(AdapterKind.Linear, GateMode.PerHeadRaw)]
    [InlineData(AdapterKind.Prefix, GateMode.PerHeadTanh)]
    [InlineData(AdapterKind.Nonlinear, GateMode.PerHeadTanh)]
    public void ReferenceNamedTensors_ReproduceTheAdapter(AdapterKind kind, GateMode gate)
    {
        using var scope = NewDisposeScope();
        var w = new TinyLlama(TinyLlama.DefaultConfig());
        var c = w.Config;
        var ids = TinyLlama.IdsTensor(TinyLlama.Ids());
        var original = w.Build();
        // K = n_layers − 2 = 1 is what example.py infers for a hypernetwork file; L = 10 for adapter_query.
        var a = original.AttachNewAdapter(new AdapterConfig(kind, PromptLength: 10, Layers: kind == AdapterKind.Nonlinear ? 1 : 2, Gate: gate), new Generator(2));
        AdapterReference.Perturb(a);
        if (kind == AdapterKind.Nonlinear) // round its hypernetwork to fp16 so the fp16 file holds it exactly
            using (no_grad()) foreach (var (_, p) in a.named_parameters()) p.copy_(p.to(ScalarType.Float16));

        var imported = ReferenceCheckpoint.Import(c, AsReferenceNames(a, c.NLayers, c.NHeads, c.Dim), "adapter.safetensors",
            gate, prefix: kind == AdapterKind.Prefix);
        Assert.Equal(a.Config, imported.Config);
        var copy = w.Build();
        copy.AttachAdapter(imported);
        Assert.Equal(original.forward(ids).data<float>().ToArray(), copy.forward(ids).data<float>().ToArray());
    }

    [Fact]
    public void BadShapes_AreNamed()
    {
        using var scope = NewDisposeScope();
        var c = TinyLlama.DefaultConfig();
        var e = Assert.Throws<BadInputException>(() => ReferenceCheckpoint.Import(c,
            new Dictionary<string, Tensor> { ["adapter_query.weight"] = zeros(25, 64) }, "a.safetensors"));
        Assert.Contains("'adapter_query.weight' has 25 rows, expected a multiple of adapter_len = 10", e.Message);

        var noGate = new Dictionary<string, Tensor> { ["adapter_query.weight"] = zeros(20, 64) };
        Assert.Contains("'layers.1.attention.gate' is missing (expected shape [1, 4, 1, 1])",
            Assert.Throws<BadInputException>(() => ReferenceCheckpoint.Import(c, noGate, "a.safetensors")).Message);

        var wide = new Dictionary<string, Tensor> { ["adapter_query.weight"] = zeros(20, 32) };
        Assert.Contains("has shape [20, 32], expected [*, 64]", Assert.Throws<BadInputException>(() => ReferenceCheckpoint.Import(c, wide, "a.safetensors")).Message);
    }
}
