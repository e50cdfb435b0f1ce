using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Adapters;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Tests.Model;
using LlamaAdapter.Training.Adapters;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Inference;

/// <summary>
/// The adapter branch of our ggml graph against the TorchSharp model with the same adapter attached: the adapter
/// GGUF is written here from the PromptAdapter per docs/adapter-gguf.md (K_p/V_p projected in double).
/// </summary>
public sealed class EngineAdapterTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("engine-adapter-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(AdapterKind.Linear, GateMode.PerHeadTanh, 2)]
    [InlineData(AdapterKind.Linear, GateMode.PerHeadRaw, 2)]
    [InlineData(AdapterKind.Linear, GateMode.PerLayerRaw, 3)]
    [InlineData(AdapterKind.Nonlinear, GateMode.PerHeadTanh, 2)]
    [InlineData(AdapterKind.Prefix, GateMode.PerHeadTanh, 2)]
    [InlineData(AdapterKind.Prefix, GateMode.PerHeadTanh, 3)]   // every layer: no layer reads the plain causal mask
    [InlineData(AdapterKind.Linear, GateMode.PerHeadTanh, 3)]
    public void AdaptedLogits_MatchTorchSharpAtEveryPosition(AdapterKind kind, GateMode gate, int layers)
    {
        var tiny = new TinyLlama(TinyLlama.DefaultConfig());
        string modelPath = Path.Combine(_dir, "tiny.gguf"), adapterPath = Path.Combine(_dir, "adapter.gguf");
        TinyGguf.WriteModel(tiny, modelPath);
        using var reference = tiny.Build();
        var adapter = reference.AttachNewAdapter(
            new AdapterConfig(kind, PromptLength: 5, Layers: layers, Gate: gate, HyperEmbedDim: 8, HyperHidden: 16), new Generator(5));
        AdapterReference.Perturb(adapter);
        TinyGguf.WriteAdapter(tiny, adapter, adapterPath);

        int[] ids = EngineParityTests.Prompt(19, tiny.Config.VocabSize);
        float[] expected = EngineParityTests.TorchLogits(reference, ids);
        using var model = GgmlLlamaModel.Load(modelPath);
        float[] plain;
        using (var s = new LlamaSession(model, cacheType: GgmlType.F32)) plain = s.Evaluate(ids, allLogits: true);
        using var loaded = GgmlPromptAdapter.Load(adapterPath, model);
        Assert.Equal(tiny.Config.NLayers - layers, loaded.FirstLayer);
        using var session = new LlamaSession(model, loaded, cacheType: GgmlType.F32);
        float[] ours = session.Evaluate(ids, allLogits: true);

        double diff = EngineParityTests.MaxAbsDiff(expected, ours);
        double effect = EngineParityTests.MaxAbsDiff(plain, ours);
        output.WriteLine($"{kind}/{gate}: max |ggml − torch| = {diff:E3}; the adapter moves logits by {effect:F3}");
        Assert.True(effect > 0.1, $"the adapter must change the logits visibly (moved {effect:E3})");
        Assert.True(diff <= 1e-4, $"max abs logit difference {diff:E3} > 1e-4");

        // Decoding token by token through the adapter reaches the same logits.
        session.Reset();
        var stepwise = new List<float>(session.Evaluate(ids.AsSpan(0, 7), allLogits: true));
        for (int i = 7; i < ids.Length; i++) stepwise.AddRange(session.Evaluate(ids.AsSpan(i, 1)));
        Assert.True(EngineParityTests.MaxAbsDiff(ours, stepwise.ToArray()) <= 1e-5);
    }
}
