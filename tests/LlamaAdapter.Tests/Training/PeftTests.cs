using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Data;
using LlamaAdapter.Tests.Model;
using LlamaAdapter.Training.Checkpoints;
using LlamaAdapter.Training.Model;
using LlamaAdapter.Training.Peft;
using LlamaAdapter.Training.Pipeline;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Training;

/// <summary>
/// Serial: LoRA dropout draws from torch's global RNG, which tests of other classes running in parallel would
/// advance between a seed and its draws.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TorchGlobalRngCollection
{
    public const string Name = "torch global RNG";
}

/// <summary>LoRA and BitFit on the real <see cref="LlamaModel"/> (tiny, random): identity at init, the merge, gradients, resume, extract.</summary>
[Collection(TorchGlobalRngCollection.Name)]
public sealed class PeftTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("peft-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly TinyLlama Base = new(TinyLlama.DefaultConfig() with { ContextLength = 256 }, seed: 3);
    private static readonly LoraConfig AllLora = new(Rank: 4, Alpha: 8, Dropout: 0.1, Targets: Projections.All);

    private static LlamaModel WithLora(LoraConfig c, ScalarType dtype = ScalarType.Float32, ulong seed = 17)
    {
        var m = Base.Build(dtype: dtype);
        using var g = new Generator(seed);
        m.AttachLora(c, g);
        return m;
    }

    private static LlamaModel WithBitFit(BitFitConfig c)
    {
        var m = Base.Build();
        m.AttachBitFit(c);
        return m;
    }

    private static void RandomiseB(LlamaModel m, ulong seed)
    {
        using var g = new Generator(seed);
        using var _ = no_grad();
        foreach (var (name, p) in m.named_parameters().Where(p => p.name.EndsWith(".lora_b", StringComparison.Ordinal)))
            p.copy_(randn(p.shape, p.dtype, generator: g) * 0.3);
    }

    [Fact]
    public void ZeroB_AndZeroBias_GiveTheFrozenModelsLogits_Exactly()
    {
        using var ids = TinyLlama.IdsTensor(TinyLlama.Ids());
        using var plain = Base.Build();
        using var expected = plain.forward(ids);
        using var lora = WithLora(AllLora);
        using var bitfit = WithBitFit(new BitFitConfig());
        foreach (var (what, m) in new[] { ("lora", lora), ("bitfit", bitfit) })
            foreach (bool training in new[] { true, false })      // dropout draws do not matter while B = 0
            {
                m.train(training);
                using var got = m.forward(ids);
                Assert.True(expected.data<float>().ToArray().SequenceEqual(got.data<float>().ToArray()), $"{what} (training={training}) differs from the frozen model");
            }
    }

    [Fact]
    public void OverA16BitBase_TrainablesAreFloat32_IdentityAtInit_AndGradientsReachThem()
    {
        using var ids = TinyLlama.IdsTensor(TinyLlama.Ids());
        using var plain = Base.Build(dtype: ScalarType.BFloat16);
        using var expected = plain.forward(ids).to(ScalarType.Float32);
        using var m = WithLora(AllLora, ScalarType.BFloat16);
        using var bitfit = Base.Build(dtype: ScalarType.BFloat16);
        bitfit.AttachBitFit(new BitFitConfig());
        foreach (var model in new[] { m, bitfit })
        {
            Assert.All(model.TrainableParameters(), p => Assert.Equal(ScalarType.Float32, p.Parameter.dtype));
            using var got = model.forward(ids);
            Assert.Equal(ScalarType.BFloat16, got.dtype);
            Assert.Equal(expected.data<float>().ToArray(), got.to(ScalarType.Float32).data<float>().ToArray());
        }
        RandomiseB(m, 4);
        using var loss = m.forward(ids).to(ScalarType.Float32).pow(2).mean();
        loss.backward();
        Assert.All(m.TrainableParameters(), p => Assert.True(p.Parameter.grad is { } g && g.dtype == ScalarType.Float32 && g.abs().sum().item<float>() > 0, p.Name));
    }

    [Fact]
    public void LoraInit_AIsKaimingUniform_BIsZero_NamesAndShapesAsDocumented()
    {
        using var m = WithLora(new LoraConfig(Rank: 4, Targets: Projections.All));
        var c = Base.Config;
        var named = m.named_parameters().Where(p => p.parameter.requires_grad).ToDictionary(p => p.name, p => p.parameter);
        Assert.Equal(c.NLayers * 7 * 2, named.Count);
        Assert.Equal([4L, c.Dim], named["layers.0.attention.wq.lora_a"].shape);
        Assert.Equal([(long)c.KvDim, 4L], named["layers.1.attention.wk.lora_b"].shape);
        Assert.Equal([4L, c.FfnDim], named["layers.2.feed_forward.w2.lora_a"].shape);
        Assert.Equal([(long)c.Dim, 4L], named["layers.2.feed_forward.w2.lora_b"].shape);
        foreach (var (name, p) in named)
        {
            var v = p.data<float>().ToArray();
            if (name.EndsWith("lora_b", StringComparison.Ordinal)) Assert.All(v, x => Assert.Equal(0f, x));
            else
            {
                // kaiming_uniform_(a=√5): bound = √(2/(1+5))·√(3/fan_in) = 1/√in; 256+ draws reach past 90 % of it.
                double bound = 1 / Math.Sqrt(p.shape[1]);
                Assert.All(v, x => Assert.InRange(Math.Abs(x), 0, bound));
                Assert.True(v.Max(Math.Abs) > 0.9 * bound, $"{name}: max |A| {v.Max(Math.Abs)} vs bound {bound}");
            }
        }
        using var again = WithLora(new LoraConfig(Rank: 4, Targets: Projections.All));
        Assert.Equal(named["layers.2.feed_forward.w3.lora_a"].data<float>().ToArray(),
                     again.named_parameters().First(p => p.name == "layers.2.feed_forward.w3.lora_a").parameter.data<float>().ToArray());
    }

    [Fact]
    public void LoraProjection_EqualsTheMergedWeight_Float32()
    {
        using var m = WithLora(AllLora);
        RandomiseB(m, 5);
        m.eval();                                                  // dropout off, as a merged model has none
        using var g = new Generator(9);
        using var x = randn([2, 5, Base.Config.FfnDim], generator: g);
        foreach (var (layer, target, proj) in m.TargetProjections(Projections.All))
        {
            using var input = x[.., .., ..(int)proj.InFeatures];
            using var got = proj.forward(input);
            using var w = LoraMerge.Merged(proj);
            using var want = nn.functional.linear(input, w);
            double diff = (got - want).abs().max().item<float>();
            Assert.True(diff <= 1e-5, $"layer {layer} {target.Name()}: |branch − merged| = {diff}");
        }
    }

    [Fact]
    public void LoraModel_EqualsTheModelWithMergedWeights()
    {
        // float64 so the comparison measures the algebra, not float32 re-association.
        using var m = WithLora(AllLora, ScalarType.Float64);
        RandomiseB(m, 6);
        m.eval();
        var merged = LoraMerge.MergeLora(m);
        Assert.Equal(Base.Config.NLayers * 7, merged.Count);
        var weights = Base.Tensors(ScalarType.Float64);
        foreach (var (name, w) in merged) weights[name] = w;
        using var plain = new LlamaModel(Base.Config, weights, new LlamaModelOptions(DType: ScalarType.Float64), "merged");
        using var ids = TinyLlama.IdsTensor(TinyLlama.Ids());
        using var a = m.forward(ids);
        using var b = plain.forward(ids);
        using var unchanged = Base.Build(dtype: ScalarType.Float64).forward(ids);
        double diff = (a - b).abs().max().item<double>();
        Assert.True(diff <= 1e-10, $"|lora − merged| = {diff}");
        Assert.True((a - unchanged).abs().max().item<double>() > 1e-3, "B ≠ 0 must change the logits");
    }

    [Fact]
    public void Dropout_IsOnlyActiveWhileTraining()
    {
        using var m = WithLora(AllLora with { Dropout = 0.5 });
        RandomiseB(m, 7);
        using var ids = TinyLlama.IdsTensor(TinyLlama.Ids());
        m.eval();
        using var e1 = m.forward(ids);
        using var e2 = m.forward(ids);
        Assert.Equal(e1.data<float>().ToArray(), e2.data<float>().ToArray());
        m.train();
        using var t1 = m.forward(ids);
        Assert.NotEqual(e1.data<float>().ToArray(), t1.data<float>().ToArray());
    }

    [Theory]
    [InlineData("lora")]
    [InlineData("bitfit")]
    public void OnlyTheAddedParameters_GetGradients_InEveryLayer(string method)
    {
        using var m = method == "lora" ? WithLora(AllLora) : WithBitFit(new BitFitConfig());
        if (method == "lora") RandomiseB(m, 8);
        using var ids = TinyLlama.IdsTensor(TinyLlama.Ids());
        using var logits = m.forward(ids);
        using var loss = logits.pow(2).mean();
        loss.backward();
        string suffix = method == "lora" ? ".lora_" : ".bias";
        int withGrad = 0;
        foreach (var (name, p) in m.named_parameters())
        {
            if (!name.Contains(suffix, StringComparison.Ordinal))
            {
                Assert.False(p.requires_grad, $"{name} must stay frozen");
                Assert.True(p.grad is null, $"{name} got a gradient");
                continue;
            }
            Assert.True(p.requires_grad, name);
            Assert.True(p.grad is not null && p.grad.abs().sum().item<float>() > 0, $"{name} got no gradient");
            withGrad++;
        }
        Assert.Equal(Base.Config.NLayers * 7 * (method == "lora" ? 2 : 1), withGrad);   // layer 0 included: not under no_grad
    }

    [Fact]
    public void TrainableCounts_At7BShapes()
    {
        var llama7b = new LlamaConfig(Dim: 4096, NLayers: 32, NHeads: 32, NKvHeads: 32, FfnDim: 11008, VocabSize: 32000);
        // r·(in+out) per target per layer: q,v = 8·8192 each → 131 072 × 32 layers
        Assert.Equal(4_194_304, new LoraConfig().TrainableParameterCount(llama7b));
        // all seven: 4·8·8192 + 3·8·(4096+11008) = 624 640 × 32
        Assert.Equal(19_988_480, new LoraConfig(Targets: Projections.All).TrainableParameterCount(llama7b));
        // biases: 4·4096 + 2·11008 + 4096 = 42 496 × 32
        Assert.Equal(1_359_872, new BitFitConfig().TrainableParameterCount(llama7b));

        // the formula agrees with what is actually attached, GQA shapes included
        var lora = new LoraConfig(Rank: 3, Targets: Projections.All);
        using var m = WithLora(lora);
        Assert.Equal(lora.TrainableParameterCount(Base.Config), m.TrainableParameters().Sum(p => p.Parameter.numel()));
        using var b = WithBitFit(new BitFitConfig([Projection.Wk, Projection.W2]));
        Assert.Equal(new BitFitConfig([Projection.Wk, Projection.W2]).TrainableParameterCount(Base.Config), b.TrainableParameters().Sum(p => p.Parameter.numel()));
    }

    private static TrainingData DataWithAnswers()
    {
        var records = Enumerable.Range(0, 8).Select(i => new AlpacaExample($"N{i}", "", $"{i} {i + 1} {i + 2}")).ToList();
        return TrainingData.FromAlpaca(records, new AlpacaEncoder(new ByteTokenizer(97), 160), DataSplit.Create(8, validationCount: 2, seed: 2));
    }

    private static readonly TrainerOptions Options = new() { Epochs = 2, WarmupEpochs = 0.5, BatchSize = 2, AccumSteps = 2, BaseLr = 0.5, Seed = 2 };

    private static (LlamaModel, IReadOnlyDictionary<string, string>) Build(string method)
    {
        if (method == "lora")
        {
            var c = new LoraConfig(Rank: 4, Alpha: 8, Dropout: 0.1, Targets: [Projection.Wq, Projection.Wv, Projection.W2]);
            return (WithLora(c), PeftDescription.Describe(Base.Config, c));
        }
        var b = new BitFitConfig([Projection.Wk, Projection.Wo, Projection.W1]);
        return (WithBitFit(b), PeftDescription.Describe(Base.Config, b));
    }

    [Theory]
    [InlineData("lora")]
    [InlineData("bitfit")]
    public void StopAndResume_ContinuesBitForBit_AndExtractKeepsTheTensorsAndConfig(string method)
    {
        // TrainRun seeds torch's global RNG (the dropout masks' source) with the run's seed on a fresh start; so do we.
        var (m1, describe) = Build(method);
        using var _ = m1;
        random.manual_seed(Options.Seed);
        using var t1 = new Trainer(m1, DataWithAnswers(), Options, describe);
        var straight = t1.Run(Path.Combine(_dir, "a"));
        Assert.Equal(4, straight.Steps);

        string run = Path.Combine(_dir, "b");
        using var cts = new CancellationTokenSource();
        var (m2, _) = Build(method);
        random.manual_seed(Options.Seed);
        using (m2)
        using (var t2 = new Trainer(m2, DataWithAnswers(), Options, describe))
            Assert.True(t2.Run(run, new SyncProgress<TrainingProgress>(p => { if (p.Step == 3) cts.Cancel(); }), cts.Token).Stopped);

        // Something else draws from torch's global RNG in between: the checkpoint's RNG state must win.
        using (var noise = rand(1000)) { }
        var (m3, _) = Build(method);
        using var __ = m3;
        using var t3 = new Trainer(m3, DataWithAnswers(), Options, describe);
        string ckpt = CheckpointDirectory.Resolve(run);
        t3.Restore(TrainingCheckpoint.Load(ckpt), ckpt);
        var rest = t3.Run(run);
        Assert.Equal(straight.TrainLosses.Skip(3), rest.TrainLosses);

        var (fresh, _) = Build(method);
        using var ___ = fresh;
        var trained = m1.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        Assert.NotEmpty(trained);
        foreach (var ((name, p1), (_, p3), (_, p0)) in trained.Zip(m3.named_parameters().Where(p => p.parameter.requires_grad), fresh.named_parameters().Where(p => p.parameter.requires_grad)))
        {
            Assert.True(p1.data<float>().ToArray().SequenceEqual(p3.data<float>().ToArray()), $"{method}: {name} differs after resume");
            Assert.False(p1.data<float>().ToArray().SequenceEqual(p0.data<float>().ToArray()), $"{method}: {name} did not train");
        }

        string outPath = Path.Combine(_dir, $"{method}.safetensors");
        var tensors = AdapterExtractor.Extract(CheckpointDirectory.Resolve(Path.Combine(_dir, "a")), outPath);
        Assert.Equal(trained.Select(t => t.name).Order(StringComparer.Ordinal), tensors.Select(t => t.Name));
        var (stored, meta) = TensorFile.Read(outPath);
        foreach (var (name, p) in trained) Assert.Equal(p.detach().data<float>().ToArray(), stored[name].AsFloats());
        var described = meta.Where(kv => kv.Key.StartsWith("adapter.", StringComparison.Ordinal)).ToDictionary(kv => kv.Key["adapter.".Length..], kv => kv.Value);
        Assert.Equal(method, meta["adapter.kind"]);
        if (method == "lora")
        {
            var c = PeftDescription.ParseLora(described, outPath);
            Assert.Equal(new LoraConfig(4, 8, 0.1, [Projection.Wq, Projection.Wv, Projection.W2]), c);
            Assert.Equal("wq,wv,w2", meta["adapter.targets"]);
            Assert.Throws<BadInputException>(() => PeftDescription.ParseBitFit(described, outPath));
        }
        else Assert.Equal(new BitFitConfig([Projection.Wk, Projection.Wo, Projection.W1]), PeftDescription.ParseBitFit(described, outPath));
        Assert.Equal(BaseModelFingerprint.Compute(m1), meta["base_model.fingerprint"]);
    }

    [Fact]
    public async Task Resume_WithAnotherLoraAlpha_IsRefusedNamingTheField()
    {
        string data = Path.Combine(_dir, "data.json");
        File.WriteAllText(data, System.Text.Json.JsonSerializer.Serialize(Enumerable.Range(0, 6).Select(i => new { instruction = $"N{i}", input = "", output = $"{i}" })));
        var settings = new TrainRunSettings(data, Path.Combine(_dir, "run"), Options with { Epochs = 1 }, MaxSeqLen: 160, ValidationCount: 2);
        var c = new LoraConfig(Rank: 2, Alpha: 4, Dropout: 0);
        using var m = WithLora(c);
        var (t, _) = await TrainRun.PrepareAsync(settings, m, new ByteTokenizer(97), PeftDescription.Describe(Base.Config, c));
        using (t) t.Run(settings.OutDir);

        var again = settings with { Resume = settings.OutDir };
        var e = await Assert.ThrowsAsync<BadInputException>(() => TrainRun.PrepareAsync(again, m, new ByteTokenizer(97), PeftDescription.Describe(Base.Config, c with { Alpha = 8 })));
        Assert.Contains("'alpha'", e.Message);
        Assert.Contains("checkpoint '4', this run '8'", e.Message);
        var (same, from) = await TrainRun.PrepareAsync(again, m, new ByteTokenizer(97), PeftDescription.Describe(Base.Config, c));
        using (same) Assert.NotNull(from);
    }

    [Fact]
    public void BitFitBiases_AreNotWeightDecayed_LoraMatricesAre()
    {
        using var l = WithLora(AllLora);
        var (decay, noDecay) = AdamWParamGroups.Split(l.named_parameters());
        Assert.Empty(noDecay);
        Assert.All(decay, d => Assert.Contains(".lora_", d.Name));
        using var b = WithBitFit(new BitFitConfig());
        var (bd, bn) = AdamWParamGroups.Split(b.named_parameters());
        Assert.Empty(bd);
        Assert.All(bn, d => Assert.EndsWith(".bias", d.Name));
    }

    [Fact]
    public void BadTargetsAndSettings_AreClearErrors()
    {
        Assert.Equal([Projection.Wq, Projection.Wv], Projections.Parse(" wv, WQ ,wq", "--targets"));
        Assert.Equal(7, Projections.Parse("all", "--targets").Count);
        var e = Assert.Throws<ArgumentException>(() => Projections.Parse("wq,q_proj", "--targets"));
        Assert.Contains("'q_proj'", e.Message);
        Assert.Throws<ArgumentException>(() => Projections.Parse(" , ", "--targets"));
        Assert.Throws<ArgumentException>(() => new LoraConfig(Rank: 0).Validate());
        Assert.Throws<ArgumentException>(() => new LoraConfig(Dropout: 1).Validate());
        Assert.Throws<ArgumentException>(() => new LoraConfig(Alpha: double.NaN).Validate());
        var d = new Dictionary<string, string>(PeftDescription.Describe(Base.Config, new LoraConfig())) { ["rank"] = "x" };
        var bad = Assert.Throws<BadInputException>(() => PeftDescription.ParseLora(d, "a.safetensors"));
        Assert.Contains("a.safetensors", bad.Message);
        Assert.Contains("'rank'", bad.Message);
        d["rank"] = "8";
        d["targets"] = "wq,zz";
        Assert.Contains("'zz'", Assert.Throws<BadInputException>(() => PeftDescription.ParseLora(d, "a.safetensors")).Message);
        using var m = WithLora(new LoraConfig());
        Assert.Throws<InvalidOperationException>(() => m.AttachLora(new LoraConfig()));
    }
}
