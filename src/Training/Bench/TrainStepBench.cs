using System.Diagnostics;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Model;
using LlamaAdapter.Training.Pipeline;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Bench;

/// <summary>What <see cref="TrainStepBench"/> times: a model shape, a batch, an adapter, where and how long.</summary>
public sealed record TrainStepBenchOptions
{
    public required LlamaConfig Config { get; init; }
    public int Batch { get; init; } = 8;
    public int SeqLen { get; init; } = 512;
    /// <summary>L, prompt vectors per adapter layer.</summary>
    public int PromptLength { get; init; } = 10;
    /// <summary>K, adapter layers (the last K).</summary>
    public int AdapterLayers { get; init; } = 30;
    public AdapterKind Kind { get; init; } = AdapterKind.Linear;
    public ScalarType DType { get; init; } = ScalarType.BFloat16;
    public Device? Device { get; init; }
    public int WarmupSteps { get; init; } = 2;
    public int Steps { get; init; } = 5;
    public long ChunkTokens { get; init; } = ChunkedCrossEntropy.DefaultChunkTokens;
    public long Seed { get; init; }
    /// <summary>libtorch's intra-op CPU threads; null keeps its default (one per core). On a busy machine 1 avoids
    /// OpenMP threads spinning while their partners wait for a core.</summary>
    public int? Threads { get; init; }
    /// <summary>The plain loss over full [B, T, vocab] logits instead of the chunked one: the A/B for time and memory.</summary>
    public bool FullLogits { get; init; }

    public void Validate()
    {
        Config.Validate("bench");
        static void Check(bool ok, string m) { if (!ok) throw new ArgumentException(m); }
        Check(Batch >= 1, $"--batch {Batch}: expected at least 1");
        Check(SeqLen >= 2, $"--seq {SeqLen}: expected at least 2 (the loss predicts token t+1 from t)");
        Check(SeqLen <= Config.ContextLength, $"--seq {SeqLen}: the shape's context is {Config.ContextLength}");
        Check(PromptLength >= 1, $"--prompt-len {PromptLength}: expected at least 1");
        Check(AdapterLayers >= 1 && AdapterLayers <= Config.NLayers, $"--adapter-layers {AdapterLayers}: expected 1..{Config.NLayers}");
        Check(DType is ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Float16, $"--dtype {DType}: expected float32, bfloat16 or float16");
        Check(WarmupSteps >= 0, $"--warmup {WarmupSteps}: expected >= 0");
        Check(Steps >= 1, $"--steps {Steps}: expected at least 1");
        Check(ChunkTokens >= 1, $"--chunk {ChunkTokens}: expected at least 1");
        Check(Threads is null or >= 1, $"--threads {Threads}: expected at least 1");
    }
}

/// <summary>One benchmark's outcome; <see cref="PeakMemoryBytes"/> is null when it could not be read (<see cref="MemoryWhat"/> says why).</summary>
public sealed record TrainStepBenchResult(
    TrainStepBenchOptions Options, long TotalParams, long TrainableParams, TrainStepFlops Flops,
    IReadOnlyList<double> StepSeconds, IReadOnlyList<double> Losses, double TokensPerSecond,
    double ModelTflops, double ExecutedTflops, long? PeakMemoryBytes, string MemoryWhat)
{
    /// <summary>Model-FLOPs utilisation against a device peak (e.g. 989 TFLOP/s dense bf16 for an H100 SXM).</summary>
    public double Mfu(double peakTflops) => ModelTflops / peakTflops;
}

/// <summary>
/// Times training steps — forward, chunked float32 cross-entropy, backward, AdamW — of a LLaMA of a given shape with
/// random frozen weights made directly as tensors of the chosen dtype on the chosen device (no file, no float32
/// copy), a prompt adapter on its last K layers, and random tokens, every one counted by the loss.
/// Each step ends with a device synchronisation so its wall time is the GPU's too.
/// </summary>
public static class TrainStepBench
{
    public static TrainStepBenchResult Run(TrainStepBenchOptions o, IProgress<string>? progress = null, CancellationToken ct = default)
    {
        o.Validate();
        var device = o.Device ?? CPU;
        var c = o.Config;
        manual_seed(o.Seed);
        if (o.Threads is { } n) set_num_threads(n);
        progress?.Report($"building {c.NLayers} layers × dim {c.Dim} ({o.DType}) on {device}");

        // A private generator on the CPU keeps a run reproducible whatever else uses torch's global one; CUDA tensors
        // draw from the global CUDA generator, seeded above.
        using var cpuGen = new Generator((ulong)o.Seed, CPU);
        var drawGen = device.type == DeviceType.CPU ? cpuGen : null;
        using var model = BuildRandom(c, o.DType, device, drawGen);
        using var gen = new Generator((ulong)o.Seed, CPU);
        var adapterConfig = new AdapterConfig(o.Kind, o.PromptLength, o.AdapterLayers, HyperEmbedDim: 64, HyperHidden: 64);
        model.AttachNewAdapter(adapterConfig, gen);
        model.train();

        var (decay, noDecay) = AdamWParamGroups.Split(model.TrainableParameters());
        var groups = new List<AdamW.ParamGroup>();
        if (decay.Count > 0) groups.Add(new AdamW.ParamGroup(decay.Select(d => d.Param), 1e-3, 0.9, 0.95, 1e-8, 0.02));
        if (noDecay.Count > 0) groups.Add(new AdamW.ParamGroup(noDecay.Select(d => d.Param), 1e-3, 0.9, 0.95, 1e-8, 0.0));
        using var optimizer = optim.AdamW(groups, 1e-3, 0.9, 0.95, 1e-8);

        long total = model.parameters().Sum(p => p.numel());
        long trainable = model.TrainableParameters().Sum(p => p.Parameter.numel());
        using var idsCpu = randint(1, c.VocabSize, [o.Batch, o.SeqLen], dtype: ScalarType.Int64, generator: cpuGen);
        using var ids = idsCpu.to(device);

        var times = new List<double>();
        var losses = new List<double>();
        for (int s = 0; s < o.WarmupSteps + o.Steps; s++)
        {
            ct.ThrowIfCancellationRequested();
            var clock = Stopwatch.StartNew();
            double loss = Step(model, optimizer, ids, o.FullLogits ? null : o.ChunkTokens);
            if (device.type == DeviceType.CUDA) cuda.synchronize();
            double sec = clock.Elapsed.TotalSeconds;
            if (!double.IsFinite(loss)) throw new InvalidOperationException($"bench: loss {loss} at step {s + 1}");
            bool measured = s >= o.WarmupSteps;
            if (measured) { times.Add(sec); losses.Add(loss); }
            progress?.Report($"{(measured ? "step" : "warm-up")} {s + 1}: {sec:0.000} s, loss {loss:0.0000}");
        }

        var flops = TrainStepFlops.For(c, o.SeqLen, o.AdapterLayers);
        double tokens = (double)o.Batch * o.SeqLen * times.Count;
        double seconds = times.Sum();
        double tps = tokens / seconds;
        var (bytes, what) = DeviceMemory.Peak(device);
        return new TrainStepBenchResult(o, total, trainable, flops, times, losses, tps,
                                        tps * flops.ModelPerToken / 1e12, tps * flops.ExecutedPerToken / 1e12, bytes, what);
    }

    /// <summary>Labels are the ids themselves: every position counts, as in the worst case for the loss's cost.</summary>
    private static double Step(LlamaModel model, optim.Optimizer optimizer, Tensor ids, long? chunkTokens)
    {
        using var scope = NewDisposeScope();
        var loss = chunkTokens is { } c ? ChunkedCrossEntropy.Compute(model.ForwardHidden(ids), ids, model.Logits, c)
                                        : CausalLmLoss.Compute(model.forward(ids), ids);
        loss.backward();
        optimizer.step();
        optimizer.zero_grad();
        return loss.item<float>();
    }

    /// <summary>
    /// Frozen weights drawn in place on the device in the model dtype: linear U(±√(3/fan_in)), embeddings U(±1), norms 1.
    /// One tensor at a time is made, as the model asks for it.
    /// </summary>
    public static LlamaModel BuildRandom(LlamaConfig c, ScalarType dtype, Device device, Generator? generator = null)
    {
        var shapes = WeightSource.ExpectedTensors(c).ToDictionary(e => e.Name, e => e.Shape);
        var made = new List<Tensor>();
        try
        {
            using var _ = no_grad();
            return new LlamaModel(c, name =>
            {
                if (!shapes.TryGetValue(name, out var shape)) return null;
                var t = shape.Length == 1 ? ones(shape, dtype, device)
                      : empty(shape, dtype, device).uniform_(name == "tok_embeddings.weight" ? -1.0 : -Math.Sqrt(3.0 / shape[1]),
                                                             name == "tok_embeddings.weight" ? 1.0 : Math.Sqrt(3.0 / shape[1]), generator);
                made.Add(t);
                return t;
            }, new LlamaModelOptions(RopeLayout.Interleaved, dtype, device), "random");
        }
        finally
        {
            foreach (var t in made) t.Dispose();   // the model holds its own (detached) handles on the same storage
        }
    }
}
