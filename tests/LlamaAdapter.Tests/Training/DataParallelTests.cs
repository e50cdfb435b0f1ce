using LlamaAdapter.Core.Data;
using LlamaAdapter.Tests.Model;
using LlamaAdapter.Training;
using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Checkpoints;
using LlamaAdapter.Training.Model;
using LlamaAdapter.Training.Peft;
using LlamaAdapter.Training.Pipeline;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Training;

/// <summary>
/// Data parallel over two CPU replicas against one device: the same recipe, so the same trajectory up to the order
/// of the float sums (replica 0's micro-batches, then replica 1's, added onto the master), and checkpoints of either
/// resume with the other.
/// </summary>
public sealed class DataParallelTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("data-parallel-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>
    /// Relative tolerance on losses and parameters. The two runs differ only in the association of the four
    /// micro-batches' gradient sum ((g0+g1)+(g2+g3) against ((g0+g1)+g2)+g3), float32 rounding of about 1e-7 that
    /// AdamW carries into the parameters.
    /// </summary>
    private const double Tolerance = 1e-6;

    private static readonly TinyLlama Base = new(TinyLlama.DefaultConfig() with { ContextLength = 256 }, seed: 3);

    private static AdapterConfig Adapter(AdapterKind kind) =>
        kind == AdapterKind.Nonlinear ? new AdapterConfig(kind, PromptLength: 4, Layers: 2, HyperEmbedDim: 8, HyperHidden: 8)
                                      : new AdapterConfig(kind, PromptLength: 4, Layers: 2);

    // Without dropout: CPU replicas would draw its masks from torch's one CPU generator in thread order.
    private static readonly LoraConfig Lora = new(Rank: 4, Alpha: 8, Dropout: 0, Targets: [Projection.Wq, Projection.Wv, Projection.W2]);
    // Not wk: a key bias adds q·b to all of a query's scores, which the softmax ignores, so its gradient is float
    // rounding alone, and AdamW's normalisation turns rounding differences into visible ones.
    private static readonly BitFitConfig BitFit = new([Projection.Wq, Projection.Wv, Projection.Wo, Projection.W1]);

    /// <summary>A prompt adapter of a kind (linear, nonlinear, prefix), LoRA or BitFit, initialised from <paramref name="seed"/>.</summary>
    private static IReadOnlyDictionary<string, string> Attach(LlamaModel m, string method, ulong seed)
    {
        using var g = new Generator(seed);
        switch (method)
        {
            case "lora":
                m.AttachLora(Lora, g);
                return PeftDescription.Describe(m, Lora);
            case "bitfit":
                m.AttachBitFit(BitFit);
                return PeftDescription.Describe(m.Config, BitFit);
            default:
                var a = Adapter(Enum.Parse<AdapterKind>(method, ignoreCase: true));
                m.AttachNewAdapter(a, g);
                return AdapterDescription.Describe(m, a);
        }
    }

    private static LlamaModel Master(AdapterKind kind) => Master(kind.ToString()).Model;

    private static (LlamaModel Model, IReadOnlyDictionary<string, string> Description) Master(string method)
    {
        var m = Base.Build();
        return (m, Attach(m, method, 17));
    }

    /// <summary>A replica whose trainables start from another seed: the set must copy the master's values in.</summary>
    private static LlamaModel Replica(LlamaModel master, AdapterKind kind) => Replica(master, kind.ToString());

    private static LlamaModel Replica(LlamaModel master, string method)
    {
        var r = ReplicaSet.FrozenCopy(master, CPU);
        Attach(r, method, 99);
        return r;
    }

    // 18 records, 2 for validation: 16 / batch 2 = 8 micro-batches, accum 4 → 2 steps per epoch, 3 epochs → 6 steps.
    private static TrainingData Data()
    {
        var records = Enumerable.Range(0, 18).Select(i => new AlpacaExample($"N{i}", "", $"{i} {i + 1} {i + 2}")).ToList();
        return TrainingData.FromAlpaca(records, new AlpacaEncoder(new ByteTokenizer(97), 160), DataSplit.Create(18, validationCount: 2, seed: 2));
    }

    private static readonly TrainerOptions Options = new() { Epochs = 3, WarmupEpochs = 1, BatchSize = 2, AccumSteps = 4, BaseLr = 0.5, Seed = 2 };

    /// <summary>A training run on one device or on two CPU replicas; disposing it disposes its models.</summary>
    private sealed class Run : IDisposable
    {
        public readonly LlamaModel Model;
        public readonly LlamaModel? Second;
        public readonly ReplicaSet Set;
        public readonly Trainer Trainer;

        public Run(string method, int replicas)
        {
            (Model, var description) = Master(method);
            Second = replicas == 2 ? Replica(Model, method) : null;
            Set = Second is null ? ReplicaSet.Single(Model) : new ReplicaSet([Model, Second]);
            Trainer = new Trainer(Set, Data(), Options, description, method is "lora" or "bitfit" ? null : AdapterDescription.GateReader(Model));
        }

        public Dictionary<string, float[]> Trainables() => Values(Model);

        public void Dispose()
        {
            Trainer.Dispose();
            Second?.Dispose();
            Model.Dispose();
        }
    }

    private static Dictionary<string, float[]> Values(LlamaModel m) =>
        m.TrainableParameters().ToDictionary(p => p.Name, p => p.Parameter.detach().cpu().data<float>().ToArray());

    private static void Close(IReadOnlyList<double> expected, IReadOnlyList<double> actual, string what)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= Tolerance * Math.Abs(expected[i]), $"{what} {i}: {expected[i]:R} vs {actual[i]:R}");
    }

    /// <summary>Each trainable tensor within <see cref="Tolerance"/> of the other in L2 norm, relative to its own norm.</summary>
    private static void Close(Dictionary<string, float[]> expected, Dictionary<string, float[]> actual, string what)
    {
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Keys.Order(StringComparer.Ordinal));
        foreach (var (name, e) in expected)
        {
            var a = actual[name];
            double diff = Math.Sqrt(e.Zip(a).Sum(x => (double)(x.First - x.Second) * (x.First - x.Second)));
            double norm = Math.Sqrt(e.Sum(x => (double)x * x));
            Assert.True(diff <= Tolerance * norm, $"{what}: {name} differs by {diff:E3} (norm {norm:E3})");
        }
    }

    [Theory]
    [InlineData("linear")]
    [InlineData("nonlinear")]
    [InlineData("prefix")]
    [InlineData("lora")]
    [InlineData("bitfit")]
    public void TwoCpuReplicas_TrainAsOneDevice(string kind)
    {
        using var one = new Run(kind, replicas: 1);
        var r1 = one.Trainer.Run(Path.Combine(_dir, "one"));
        using var two = new Run(kind, replicas: 2);
        var before = two.Trainables();
        var r2 = two.Trainer.Run(Path.Combine(_dir, "two"));

        Assert.Equal(6, r2.Steps);
        Close(r1.TrainLosses, r2.TrainLosses, $"{kind}: train loss of step");
        Close(r1.ValidationLosses, r2.ValidationLosses, $"{kind}: validation loss of epoch");
        var p1 = one.Trainables();
        var p2 = two.Trainables();
        Close(p1, p2, kind.ToString());
        foreach (var (name, v) in p2) Assert.False(v.SequenceEqual(before[name]), $"{kind}: {name} did not train");

        // accum 4 over 2 replicas: 2 micro-batches each per step; the one-device run did all 4 on its master. (Without
        // the replica's half of the gradient the runs would part at step 2 by far more than the tolerance.)
        Assert.Equal([12L, 12L], two.Set.MicroBatches);
        Assert.Equal([24L], one.Set.MicroBatches);
        // After the last step the replica holds the master's values again.
        var replica = Values(two.Second!);
        foreach (var (name, v) in p2) Assert.True(v.SequenceEqual(replica[name]), $"{kind}: replica's {name} is not the master's");
    }

    [Fact]
    public void Checkpoints_ResumeAcrossReplicaCounts()
    {
        const string kind = "nonlinear";
        using var straightOne = new Run(kind, 1);
        var s1 = straightOne.Trainer.Run(Path.Combine(_dir, "s1"));
        using var straightTwo = new Run(kind, 2);
        var s2 = straightTwo.Trainer.Run(Path.Combine(_dir, "s2"));

        // 3 steps on `first` replicas (stopped as by Ctrl-C), then the other 3 on `then` replicas from its checkpoint.
        (TrainingResult Before, TrainingResult After, Dictionary<string, float[]> End) Resumed(int first, int then, string name)
        {
            string run = Path.Combine(_dir, name);
            using var cts = new CancellationTokenSource();
            TrainingResult a;
            using (var r = new Run(kind, first))
                a = r.Trainer.Run(run, new SyncProgress<TrainingProgress>(p => { if (p.Step == 3) cts.Cancel(); }), cts.Token);
            Assert.True(a.Stopped);
            Assert.Equal(3, a.Steps);
            using var b = new Run(kind, then);
            string ckpt = CheckpointDirectory.Resolve(run);
            b.Trainer.Restore(TrainingCheckpoint.Load(ckpt), ckpt);
            var rest = b.Trainer.Run(run);
            Assert.Equal(6, rest.Steps);
            Assert.Equal(then == 2 ? [6L, 6L] : [12L], b.Set.MicroBatches);    // 3 steps of 4 micro-batches
            return (a, rest, b.Trainables());
        }

        // Two replicas resumed on two: the same run exactly (the replicas' sum order is fixed).
        var (a22, b22, p22) = Resumed(2, 2, "two-two");
        Assert.Equal(s2.TrainLosses, a22.TrainLosses.Concat(b22.TrainLosses));
        foreach (var (name, v) in straightTwo.Trainables()) Assert.True(v.SequenceEqual(p22[name]), $"two → two: {name} differs");

        // One device's checkpoint resumed on two replicas, and two replicas' on one device.
        var (a12, b12, p12) = Resumed(1, 2, "one-two");
        Assert.Equal(s1.TrainLosses.Take(3), a12.TrainLosses);
        Close(s2.TrainLosses, [.. a12.TrainLosses, .. b12.TrainLosses], "one → two: train loss of step");
        Close(straightTwo.Trainables(), p12, "one → two");
        var (a21, b21, p21) = Resumed(2, 1, "two-one");
        Close(s1.TrainLosses, [.. a21.TrainLosses, .. b21.TrainLosses], "two → one: train loss of step");
        Close(straightOne.Trainables(), p21, "two → one");
    }

    [Fact]
    public void NonFiniteLoss_StopsAsOnOneDevice_NamingTheFirstBatch()
    {
        // 100 tokens cut every answer (the prompts are 142): no label is counted and each micro-batch's loss is NaN.
        var records = Enumerable.Range(0, 18).Select(i => new AlpacaExample($"N{i}", "", $"{i}")).ToList();
        var data = TrainingData.FromAlpaca(records, new AlpacaEncoder(new ByteTokenizer(97), 100), DataSplit.Create(18, validationCount: 2, seed: 2));
        string Message(int replicas)
        {
            using var m = Master(AdapterKind.Linear);
            using var r = Replica(m, AdapterKind.Linear);
            using var t = new Trainer(replicas == 1 ? ReplicaSet.Single(m) : new ReplicaSet([m, r]), data, Options, new Dictionary<string, string>());
            return Assert.Throws<TrainingDivergedException>(() => t.Run(Path.Combine(_dir, $"nan{replicas}"))).Message;
        }
        string one = Message(1);
        Assert.Contains("loss is NaN at step 1 (epoch 0, batch 0,", one);
        Assert.Equal(one, Message(2));                       // replica 1's batch 2 was NaN too; batch 0 comes first
    }

    [Fact]
    public void AccumNotAMultipleOfTheReplicas_IsAClearError()
    {
        using var m = Master(AdapterKind.Linear);
        using var r = Replica(m, AdapterKind.Linear);
        var e = Assert.Throws<ArgumentException>(() => new Trainer(new ReplicaSet([m, r]), Data(), Options with { AccumSteps = 3 }, new Dictionary<string, string>()));
        Assert.Contains("--accum 3", e.Message);
        Assert.Contains("--devices cpu,cpu", e.Message);
    }

    [Fact]
    public void DeviceLists_AreParsedAndChecked()
    {
        Assert.Equal([DeviceType.CPU, DeviceType.CPU], TorchRuntime.ParseDevices("cpu, cpu").Select(d => d.type));
        Assert.Single(TorchRuntime.ParseDevices("cpu"));
        Assert.Contains("'tpu'", Assert.Throws<ArgumentException>(() => TorchRuntime.ParseDevices("cpu,tpu")).Message);
        Assert.Contains("--devices", Assert.Throws<ArgumentException>(() => TorchRuntime.ParseDevices("cpu,tpu")).Message);
        Assert.Contains("comma-separated", Assert.Throws<ArgumentException>(() => TorchRuntime.ParseDevices("cpu,,cpu")).Message);
        if (!cuda.is_available())
            Assert.Contains("no CUDA", Assert.Throws<ArgumentException>(() => TorchRuntime.ParseDevices("cuda:0,cuda:1")).Message);

        // The list rules on parsed devices (a Device value needs no GPU): a GPU once, one kind of device.
        Device Cuda(int i) => new(DeviceType.CUDA, i);
        TorchRuntime.CheckDeviceList([Cuda(0), Cuda(1)], "cuda:0,cuda:1");
        Assert.Contains("twice", Assert.Throws<ArgumentException>(() => TorchRuntime.CheckDeviceList([Cuda(0), Cuda(0)], "cuda:0,cuda:0")).Message);
        Assert.Contains("twice", Assert.Throws<ArgumentException>(() => TorchRuntime.CheckDeviceList([new Device(DeviceType.CUDA), Cuda(0)], "cuda,cuda:0")).Message);
        Assert.Contains("mixes", Assert.Throws<ArgumentException>(() => TorchRuntime.CheckDeviceList([CPU, Cuda(0)], "cpu,cuda:0")).Message);
    }

    [Fact]
    public void Replicas_MustMatchTheMaster()
    {
        using var m = Master(AdapterKind.Linear);
        Assert.Contains("same model object", Assert.Throws<ArgumentException>(() => new ReplicaSet([m, m])).Message);
        using var nonlinear = Replica(m, AdapterKind.Nonlinear);
        Assert.Contains("trainable parameter 0 is adapter.", Assert.Throws<ArgumentException>(() => new ReplicaSet([m, nonlinear])).Message);

        using var otherBase = new TinyLlama(Base.Config, seed: 4).Build();
        using (var g = new Generator(17)) otherBase.AttachNewAdapter(Adapter(AdapterKind.Linear), g);
        Assert.Contains("frozen base", Assert.Throws<ArgumentException>(() => new ReplicaSet([m, otherBase])).Message);

        using var trainsBase = Base.Build();
        trainsBase.named_parameters().First(p => p.name == "norm.weight").parameter.requires_grad = true;
        Assert.Contains("norm.weight trains", Assert.Throws<ArgumentException>(() => ReplicaSet.FrozenCopy(trainsBase, CPU)).Message);
    }

    [Fact]
    public void FrozenCopy_OnTheSameDevice_SharesTheBaseWeights()
    {
        using var m = Master(AdapterKind.Linear);
        using var r = Replica(m, AdapterKind.Linear);
        Assert.Equal(BaseModelFingerprint.Compute(m), BaseModelFingerprint.Compute(r));
        Tensor Norm(LlamaModel x) => x.named_parameters().First(p => p.name == "layers.1.ffn_norm.weight").parameter;
        using (no_grad()) Norm(m).mul_(2);
        Assert.Equal(Norm(m).data<float>().ToArray(), Norm(r).data<float>().ToArray());    // one storage, not a copy
        Assert.False(ReferenceEquals(m.Adapter!.parameters().First(), r.Adapter!.parameters().First()));
    }
}
