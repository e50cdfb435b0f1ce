using LlamaAdapter.Core.Data;
using LlamaAdapter.Tests.Model;
using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Checkpoints;
using LlamaAdapter.Training.Metrics;
using LlamaAdapter.Training.Model;
using LlamaAdapter.Training.Pipeline;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Training;

/// <summary>The pipeline on the real <see cref="LlamaModel"/> (tiny, random) with each kind of prompt adapter.</summary>
public sealed class LlamaTrainingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("llama-train-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly TinyLlama Base = new(TinyLlama.DefaultConfig() with { ContextLength = 256 }, seed: 3);

    private static (LlamaModel Model, AdapterConfig Adapter) Build(AdapterKind kind)
    {
        var model = Base.Build();
        var a = kind == AdapterKind.Nonlinear ? new AdapterConfig(kind, PromptLength: 4, Layers: 2, HyperEmbedDim: 8, HyperHidden: 8)
                                               : new AdapterConfig(kind, PromptLength: 4, Layers: 2);
        using var g = new Generator(17);
        model.AttachNewAdapter(a, g);
        return (model, a);
    }

    // The no-input prompt with "N<i>" is 142 tokens of the byte tokenizer; 160 keeps every answer and its EOS.
    private static TrainingData DataWithAnswers()
    {
        var records = Enumerable.Range(0, 8).Select(i => new AlpacaExample($"N{i}", "", $"{i} {i + 1} {i + 2}")).ToList();
        return TrainingData.FromAlpaca(records, new AlpacaEncoder(new ByteTokenizer(97), 160), DataSplit.Create(8, validationCount: 2, seed: 2));
    }

    private static readonly TrainerOptions Options = new() { Epochs = 2, WarmupEpochs = 0.5, BatchSize = 2, AccumSteps = 2, BaseLr = 0.5, Seed = 2 };

    [Theory]
    [InlineData(AdapterKind.Linear)]
    [InlineData(AdapterKind.Nonlinear)]
    [InlineData(AdapterKind.Prefix)]
    public void StopAndResume_ContinuesBitForBit(AdapterKind kind)
    {
        var (m1, a) = Build(kind);
        using var _ = m1;
        var describe = AdapterDescription.Describe(m1, a);
        using var t1 = new Trainer(m1, DataWithAnswers(), Options, describe, AdapterDescription.GateReader(m1));
        var straight = t1.Run(Path.Combine(_dir, "a"));
        Assert.Equal(4, straight.Steps);                           // 8 examples → 4 batches → 2 steps per epoch

        string run = Path.Combine(_dir, "b");
        using var cts = new CancellationTokenSource();
        var (m2, _) = Build(kind);
        using (m2)
        using (var t2 = new Trainer(m2, DataWithAnswers(), Options, describe, AdapterDescription.GateReader(m2)))
            Assert.True(t2.Run(run, new SyncProgress<TrainingProgress>(p => { if (p.Step == 3) cts.Cancel(); }), cts.Token).Stopped);

        var (m3, _) = Build(kind);
        using var __ = m3;
        using var t3 = new Trainer(m3, DataWithAnswers(), Options, describe, AdapterDescription.GateReader(m3));
        string ckpt = CheckpointDirectory.Resolve(run);
        t3.Restore(TrainingCheckpoint.Load(ckpt), ckpt);
        var rest = t3.Run(run);
        Assert.Equal(straight.TrainLosses.Skip(3), rest.TrainLosses);

        var fresh = Build(kind).Model;
        foreach (var ((name, p1), (_, p3), (_, p0)) in m1.named_parameters().Zip(m3.named_parameters(), fresh.named_parameters()).Where(x => x.First.parameter.requires_grad))
        {
            Assert.True(p1.data<float>().ToArray().SequenceEqual(p3.data<float>().ToArray()), $"{kind}: {name} differs after resume");
            Assert.False(p1.data<float>().ToArray().SequenceEqual(p0.data<float>().ToArray()), $"{kind}: {name} did not train");
        }
        fresh.Dispose();

        var log = MetricsLog.Read(Path.Combine(_dir, "a", "metrics.jsonl"));
        if (kind == AdapterKind.Prefix) Assert.Null(log[0].Gates);
        else
        {
            Assert.Equal(["1", "2"], log[0].Gates!.Keys.Order());                      // the last K = 2 of 3 layers
            Assert.Equal(4, log[0].Gates!["1"].Length);                                 // one per head
        }

        // extract → the adapter's own tensors and a description that parses back to the same configuration
        string outPath = Path.Combine(_dir, $"{kind}.safetensors");
        var tensors = AdapterExtractor.Extract(CheckpointDirectory.Resolve(Path.Combine(_dir, "a")), outPath);
        Assert.All(tensors, t => Assert.StartsWith("adapter.", t.Name));
        var (_, meta) = TensorFile.Read(outPath);
        var described = meta.Where(kv => kv.Key.StartsWith("adapter.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key["adapter.".Length..], kv => kv.Value);
        Assert.Equal(a, AdapterDescription.Parse(described, outPath));
        Assert.Equal(BaseModelFingerprint.Compute(m1), meta["base_model.fingerprint"]);
    }

    [Fact]
    public void LinearAdapter_TrainableTensorsAndDecayGroups_FollowTheReference()
    {
        var (m, _) = Build(AdapterKind.Linear);
        using var _ = m;
        var (decay, noDecay) = AdamWParamGroups.Split(m.named_parameters());
        Assert.Equal(["adapter.gates", "adapter.prompts"], decay.Select(d => d.Name).Order(StringComparer.Ordinal));   // gates decay too
        Assert.Empty(noDecay);
        var (h, __) = Build(AdapterKind.Nonlinear);
        using var ___ = h;
        var (hd, hn) = AdamWParamGroups.Split(h.named_parameters());
        Assert.Equal(["adapter.hyper.linear1.bias", "adapter.hyper.prompt.bias"], hn.Select(d => d.Name).Order(StringComparer.Ordinal));
        Assert.Contains("adapter.hyper.layer_embed", hd.Select(d => d.Name));
    }

    [Fact]
    public void LossAtStepZero_IsTheBaseModelsLoss()
    {
        // Zero-initialised gates: before any update the adapted model is the base model exactly.
        var (m, a) = Build(AdapterKind.Linear);
        using var _ = m;
        using var plain = Base.Build();
        var data = DataWithAnswers();
        using var t = new Trainer(m, data, Options, AdapterDescription.Describe(m, a));
        double? withAdapter = t.Validate(0);
        using var tp = new Trainer(WithOneTrainable(plain), data, Options, new Dictionary<string, string>());
        Assert.Equal(tp.Validate(0), withAdapter);
    }

    private static LlamaModel WithOneTrainable(LlamaModel m)
    {
        // The trainer needs something trainable; the final norm's weight does not change a forward pass by being so.
        m.named_parameters().First(p => p.name == "norm.weight").parameter.requires_grad = true;
        return m;
    }
}
