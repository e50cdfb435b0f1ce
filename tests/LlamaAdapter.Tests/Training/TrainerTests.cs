using LlamaAdapter.Core;
using LlamaAdapter.Core.Data;
using LlamaAdapter.Training.Checkpoints;
using LlamaAdapter.Training.Metrics;
using LlamaAdapter.Training.Pipeline;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Training;

public sealed class TrainerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("trainer-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly Dictionary<string, string> Adapter = new() { ["kind"] = "test", ["prompt_len"] = "3" };

    private static TrainingData Data(int count = 14, int seqLen = 240, int? maxExamples = null)
    {
        var records = Enumerable.Range(0, count).Select(i => new AlpacaExample($"Task {i}", i % 3 == 0 ? $"in {i}" : "", $"answer {i * 7 % 11}")).ToList();
        var split = DataSplit.Create(records.Count, maxExamples, validationCount: 4, seed: 5);
        return TrainingData.FromAlpaca(records, new AlpacaEncoder(new ByteTokenizer(), seqLen), split);
    }

    // 14 examples / batch 2 = 7 batches; accum 2 → 3 steps per epoch (batch 7 is never used); 3 epochs → 9 steps.
    private static readonly TrainerOptions Options = new()
    {
        Epochs = 3, WarmupEpochs = 1, BatchSize = 2, AccumSteps = 2, BaseLr = 0.5, WeightDecay = 0.02, Seed = 5,
    };

    private static TinyGatedLm Model()
    {
        return new TinyGatedLm(1234);
    }

    private static Dictionary<string, float[]> Params(TinyGatedLm m) =>
        m.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().clone().data<float>().ToArray());

    [Fact]
    public void StopAndResume_ContinuesBitForBit()
    {
        // Straight: 9 steps.
        using var m1 = Model();
        using var t1 = new Trainer(m1, Data(), Options, Adapter);
        Assert.Equal(9, t1.TotalSteps);
        var straight = t1.Run(Path.Combine(_dir, "a"));
        Assert.False(straight.Stopped);
        Assert.Equal(9, straight.Steps);
        Assert.Equal(3, straight.ValidationLosses.Count);

        // Stopped (as by Ctrl-C) after step 4, which is in the middle of epoch 1.
        string runB = Path.Combine(_dir, "b");
        using var cts = new CancellationTokenSource();
        TrainingResult first;
        using (var m2 = Model())
        using (var t2 = new Trainer(m2, Data(), Options, Adapter))
            first = t2.Run(runB, new SyncProgress<TrainingProgress>(p => { if (p.Step == 4) cts.Cancel(); }), cts.Token);
        Assert.True(first.Stopped);
        Assert.Equal(4, first.Steps);
        Assert.EndsWith("checkpoint-step4.safetensors", first.LastCheckpoint);

        // Fresh objects, as a new process would build them; a different torch RNG state that Restore must undo.
        using var m3 = Model();
        manual_seed(999);
        using var t3 = new Trainer(m3, Data(), Options, Adapter);
        t3.Restore(TrainingCheckpoint.Load(CheckpointDirectory.Resolve(runB)), runB);
        var second = t3.Run(runB);
        Assert.False(second.Stopped);
        Assert.Equal(9, second.Steps);

        Assert.Equal(straight.TrainLosses, first.TrainLosses.Concat(second.TrainLosses));     // exact doubles
        Assert.Equal(straight.ValidationLosses, first.ValidationLosses.Concat(second.ValidationLosses));
        var p1 = Params(m1);
        var p3 = Params(m3);
        foreach (var (name, v) in p1) Assert.True(v.SequenceEqual(p3[name]), $"{name} differs after resume");
        Assert.NotEqual(Params(Model())["adapter_query.weight"], p1["adapter_query.weight"]);   // it did train

        // metrics.jsonl of the resumed run reads like the straight one's (tokens/s aside).
        var ma = MetricsLog.Read(Path.Combine(_dir, "a", "metrics.jsonl"));
        var mb = MetricsLog.Read(Path.Combine(runB, "metrics.jsonl"));
        Assert.Equal(ma.Select(m => (m.Step, m.Loss, m.ValLoss, m.Lr, m.GradNorm)), mb.Select(m => (m.Step, m.Loss, m.ValLoss, m.Lr, m.GradNorm)));
        Assert.Equal(["1"], ma[0].Gates!.Keys);
        Assert.Equal(2, ma[0].Gates!["1"].Length);
    }

    [Fact]
    public void SaveEvery_CheckpointResumesToTheSameEnd()
    {
        using var m1 = Model();
        using var t1 = new Trainer(m1, Data(), Options with { SaveEvery = 2, KeepCheckpoints = 10 }, Adapter);
        string run = Path.Combine(_dir, "s");
        t1.Run(run);
        // step 2, 4 (mid-epoch), 3, 6, 9 (epoch ends); step 6 is an epoch end so is saved once.
        Assert.Equal([2L, 3, 4, 6, 8, 9], CheckpointDirectory.List(run).Select(c => c.Step));

        using var m2 = Model();
        using var t2 = new Trainer(m2, Data(), Options with { SaveEvery = 2 }, Adapter);
        t2.Restore(TrainingCheckpoint.Load(CheckpointDirectory.PathFor(run, 4)), "ckpt");
        t2.Run(Path.Combine(_dir, "s2"));
        var p1 = Params(m1);
        foreach (var (name, v) in Params(m2)) Assert.True(v.SequenceEqual(p1[name]), name);
    }

    [Fact]
    public void FirstStep_HasZeroLr_AndGatedPromptGetsNoGradientAtGateZero()
    {
        using var m = Model();
        var before = Params(m);
        var lrs = new List<double>();
        using var t = new Trainer(m, Data(), Options with { Epochs = 1, WarmupEpochs = 1 }, Adapter);
        using var cts = new CancellationTokenSource();
        t.Run(Path.Combine(_dir, "f"), new SyncProgress<TrainingProgress>(p => { lrs.Add(p.Lr); if (p.Step == 1) cts.Cancel(); }), cts.Token);
        Assert.Equal(0.0, lrs[0]);                       // warm-up starts from 0, so the first update changes nothing
        foreach (var (name, v) in Params(m)) Assert.True(v.SequenceEqual(before[name]), name);
        var m0 = MetricsLog.Read(Path.Combine(_dir, "f", "metrics.jsonl"))[0];
        Assert.True(m0.GradNorm > 0);
    }

    [Fact]
    public void IdleTensors_AreOnlyDecayed_AndOneDimensionalOnesNotAtAll()
    {
        // adapter_idle has a zero gradient: AdamW leaves only the decoupled decay p ← p·(1 − lr·wd).
        using var m = Model();
        var before = Params(m);
        var lrs = new List<double>();
        using var t = new Trainer(m, Data(), Options, Adapter);
        t.Run(Path.Combine(_dir, "d"), new SyncProgress<TrainingProgress>(p => lrs.Add(p.Lr)));
        var after = Params(m);
        for (int i = 0; i < 6; i++)
        {
            double expected = before["adapter_idle"][i];
            foreach (double lr in lrs) expected *= 1 - lr * Options.WeightDecay;
            Assert.Equal(expected, after["adapter_idle"][i], Math.Abs(expected) * 1e-6);
        }
        Assert.Equal(before["layers.0.attention.gate"], after["layers.0.attention.gate"]);  // frozen
        Assert.NotEqual(before["layers.1.attention.gate"], after["layers.1.attention.gate"]);
        // the schedule: peak = blr·eff/256, reached at the end of the 1-epoch warm-up (step 4 starts epoch 1)
        double peak = 0.5 * 4 / 256;
        Assert.Equal(peak, lrs[3], 15);
        Assert.Equal(peak * 2.0 / 7, lrs[1], 15);
    }

    [Fact]
    public void Resume_IsRefusedWithOtherHyperparametersOrData()
    {
        using var m = Model();
        using var t = new Trainer(m, Data(), Options, Adapter);
        string run = Path.Combine(_dir, "r");
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var r = t.Run(run, ct: cts.Token);
        var ckpt = TrainingCheckpoint.Load(r.LastCheckpoint!);

        using var m2 = Model();
        using var t2 = new Trainer(m2, Data(), Options with { BaseLr = 0.1 }, Adapter);
        Assert.Contains("hyperparameters", Assert.Throws<BadInputException>(() => t2.Restore(ckpt, "x.safetensors")).Message);
        using var m3 = Model();
        using var t3 = new Trainer(m3, Data(count: 15), Options, Adapter);
        Assert.Contains("data", Assert.Throws<BadInputException>(() => t3.Restore(ckpt, "x.safetensors")).Message);
        using var m4 = new TinyGatedLm(4321);
        using var t4 = new Trainer(m4, Data(), Options, Adapter);
        Assert.Contains("base model", Assert.Throws<BadInputException>(() => t4.Restore(ckpt, "x.safetensors")).Message);
    }

    [Fact]
    public void TooFewExamples_ForOneStep_IsAClearError()
    {
        using var m = Model();
        var e = Assert.Throws<ArgumentException>(() => new Trainer(m, Data(count: 3), Options, Adapter));
        Assert.Contains("--batch-size", e.Message);
    }

    [Fact]
    public void CorruptCheckpoint_IsBadInput_NamingFileAndField()
    {
        string p = Path.Combine(_dir, "bad.safetensors");
        File.WriteAllBytes(p, [1, 2, 3]);
        Assert.Contains("bad.safetensors", Assert.ThrowsAny<BadInputException>(() => TrainingCheckpoint.Load(p)).Message);
        TensorFile.Write(p, [StoredTensor.Of("x", [1f, 2f], 2)], new Dictionary<string, string> { ["format"] = "other" });
        Assert.Contains("__metadata__.format", Assert.Throws<BadInputException>(() => TrainingCheckpoint.Load(p)).Message);
        byte[] b = File.ReadAllBytes(p);
        File.WriteAllBytes(p, b[..^4]);                                                     // data cut short
        Assert.Contains("x", Assert.ThrowsAny<BadInputException>(() => TensorFile.Read(p)).Message);
    }
}

public sealed class ClippingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("clip-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Clip_ScalesTheGradientAdamSees_AndTheLogKeepsThePreClipNorm()
    {
        var records = Enumerable.Range(0, 8).Select(i => new AlpacaExample($"Q{i}", "", $"A{i}")).ToList();
        var data = TrainingData.FromAlpaca(records, new AlpacaEncoder(new ByteTokenizer(), 160), DataSplit.Create(8, validationCount: 0));
        var o = new TrainerOptions { Epochs = 1, WarmupEpochs = 0, BatchSize = 2, AccumSteps = 1, BaseLr = 1.0 };
        double Run(double? clip, string name, out TrainingCheckpoint ckpt)
        {
            using var m = new TinyGatedLm(5);
            using var t = new Trainer(m, data, o with { ClipNorm = clip }, new Dictionary<string, string>());
            using var cts = new CancellationTokenSource();
            var r = t.Run(Path.Combine(_dir, name), new SyncProgress<TrainingProgress>(p => cts.Cancel()), cts.Token);
            ckpt = TrainingCheckpoint.Load(r.LastCheckpoint!);
            return MetricsLog.Read(Path.Combine(_dir, name, "metrics.jsonl"))[0].GradNorm!.Value;
        }
        double free = Run(null, "free", out var unclipped);
        double clipped = Run(1e-3, "clip", out var c);
        Assert.Equal(free, clipped, 6);                                                   // logged before clipping
        Assert.True(free > 1e-2);
        // exp_avg after one step = (1 − β1)·g, so its global norm is 0.1·|g| unclipped and 0.1·1e-3 clipped.
        double Norm(TrainingCheckpoint k) => Math.Sqrt(k.Optimizer.Values.Sum(s => s.ExpAvg.AsFloats().Sum(x => (double)x * x)));
        Assert.Equal(0.1 * free, Norm(unclipped), 0.1 * free * 1e-5);
        Assert.Equal(0.1 * 1e-3, Norm(c), 1e-9);
    }
}
