using System.Globalization;
using Cocona;
using LlamaAdapter.Training;
using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Bench;
using Spectre.Console;
using static TorchSharp.torch;

namespace LlamaAdapter.Cli.Commands;

/// <summary>The <c>bench</c> group: register with <c>app.AddCommands&lt;BenchCommand&gt;()</c>; more subcommands go in <see cref="BenchCommands"/>.</summary>
[HasSubCommands(typeof(BenchCommands), "bench", Description = "Performance benchmarks on the current device")]
public sealed class BenchCommand;

public sealed class BenchCommands
{
    [Command("train-step", Description = "Time forward + backward + AdamW of a prompt-adapter step on random weights; prints tokens/s, TFLOP/s and peak memory. " +
                                         "Example (the paper's GPU setting): llama-adapter bench train-step --shape 7b --batch 8 --seq 512 --prompt-len 10 --adapter-layers 30 --device cuda --dtype bfloat16")]
    public int TrainStep(
        [Option(Description = "Model shape preset: tiny, small (~135M), 7b, 13b; --dim etc. override its fields")] string shape = "tiny",
        [Option(Description = "Model width")] int? dim = null,
        [Option("layers", Description = "Transformer layers")] int? nLayers = null,
        [Option(Description = "Attention heads")] int? heads = null,
        [Option("kv-heads", Description = "Key/value heads (GQA)")] int? kvHeads = null,
        [Option(Description = "Feed-forward width")] int? ffn = null,
        [Option(Description = "Vocabulary size")] int? vocab = null,
        [Option(Description = "Sequences per step")] int batch = 8,
        [Option(Description = "Tokens per sequence")] int seq = 512,
        [Option("prompt-len", Description = "L: prompt vectors per adapter layer")] int promptLen = 10,
        [Option("adapter-layers", Description = "K: adapters on the last K layers (clamped to the layer count)")] int adapterLayers = 30,
        [Option(Description = "linear, nonlinear or prefix")] string kind = "linear",
        [Option(Description = "Frozen base dtype: bfloat16, float16, float32")] string dtype = "bfloat16",
        [Option(Description = "cpu, cuda or cuda:N")] string device = "cpu",
        [Option(Description = "Untimed steps first")] int warmup = 2,
        [Option(Description = "Timed steps")] int steps = 5,
        [Option(Description = "Positions per cross-entropy chunk")] long chunk = LlamaAdapter.Training.Pipeline.ChunkedCrossEntropy.DefaultChunkTokens,
        [Option("peak-tflops", Description = "The device's dense peak for this dtype, to print MFU (H100 SXM bf16: 989)")] double? peakTflops = null,
        [Option(Description = "Seed for weights, tokens and adapter")] long seed = 0,
        [Option(Description = "libtorch CPU threads (default: one per core; 1 on a busy machine)")] int? threads = null,
        [Option("full-logits", Description = "Use the plain loss over full-vocabulary logits (to compare with the chunked one)")] bool fullLogits = false)
    {
        Device dev;
        try { dev = TorchRuntime.ParseDevice(device); }
        catch (ArgumentException e) { throw new UserException(e.Message); }
        LlamaAdapter.Core.Config.LlamaConfig preset;
        try { preset = TrainStepShape.Preset(shape); }
        catch (ArgumentException e) { throw new UserException(e.Message); }
        var config = preset with
        {
            Dim = dim ?? preset.Dim, NLayers = nLayers ?? preset.NLayers, NHeads = heads ?? preset.NHeads,
            NKvHeads = kvHeads ?? (heads ?? preset.NKvHeads), FfnDim = ffn ?? preset.FfnDim, VocabSize = vocab ?? preset.VocabSize,
            ContextLength = Math.Max(preset.ContextLength, seq),
        };
        var options = new TrainStepBenchOptions
        {
            Config = config, Batch = batch, SeqLen = seq, PromptLength = promptLen, AdapterLayers = Math.Min(adapterLayers, config.NLayers),
            Kind = ParseKind(kind), DType = ParseDType(dtype), Device = dev, WarmupSteps = warmup, Steps = steps, ChunkTokens = chunk, Seed = seed, Threads = threads, FullLogits = fullLogits,
        };
        try { options.Validate(); }
        catch (ArgumentException e) { throw new UserException($"bench train-step: {e.Message}"); }
        if (peakTflops is <= 0) throw new UserException($"--peak-tflops {peakTflops}: expected a positive number");

        // Nothing is written, so Ctrl-C may simply end the process.
        var r = TrainStepBench.Run(options, new SyncProgress(m => AnsiConsole.MarkupLineInterpolated($"[grey]{m}[/]")));
        Print(r, peakTflops);
        return 0;
    }

    private static void Print(TrainStepBenchResult r, double? peakTflops)
    {
        var o = r.Options;
        var c = o.Config;
        var inv = CultureInfo.InvariantCulture;
        var t = new Table().AddColumns("", "value");
        void Row(string k, string v) => t.AddRow(Markup.Escape(k), Markup.Escape(v));
        Row("shape", $"dim {c.Dim}, {c.NLayers} layers, {c.NHeads}/{c.NKvHeads} heads, ffn {c.FfnDim}, vocab {c.VocabSize}");
        Row("parameters", string.Create(inv, $"{r.TotalParams:N0} total, {r.TrainableParams:N0} trainable ({o.Kind}, L={o.PromptLength}, K={o.AdapterLayers})"));
        Row("step", string.Create(inv, $"batch {o.Batch} × {o.SeqLen} tokens, {o.DType} on {o.Device}, {(o.FullLogits ? "full logits" : $"chunk {o.ChunkTokens}")}{(o.Device?.type == TorchSharp.DeviceType.CPU ? $", {get_num_threads()} threads" : "")}"));
        Row("seconds/step", string.Create(inv, $"mean {r.StepSeconds.Average():0.0000}, min {r.StepSeconds.Min():0.0000} over {r.StepSeconds.Count} steps"));
        Row("tokens/s", r.TokensPerSecond.ToString("N0", inv));
        Row("model TFLOP/s", string.Create(inv, $"{r.ModelTflops:0.000} (6·N + 12·n_layers·dim·T = {r.Flops.ModelPerToken / 1e9:0.00} GFLOP/token, N = {r.Flops.MatmulParams:N0})"));
        Row("executed TFLOP/s", string.Create(inv, $"{r.ExecutedTflops:0.000} (frozen base: forward + activation-only backward of head and top K = {r.Flops.ExecutedPerToken / 1e9:0.00} GFLOP/token)"));
        if (peakTflops is { } p) Row("MFU", string.Create(inv, $"{100 * r.Mfu(p):0.0} % of {p} TFLOP/s (executed: {100 * r.ExecutedTflops / p:0.0} %)"));
        Row("peak memory", r.PeakMemoryBytes is { } b ? string.Create(inv, $"{b / 1e9:0.00} GB ({r.MemoryWhat})") : r.MemoryWhat);
        Row("loss", string.Join(", ", r.Losses.Select(l => l.ToString("0.0000", inv))));
        AnsiConsole.Write(t);
    }

    /// <summary>Reports on the calling thread, in order (Progress&lt;T&gt; posts to the thread pool and may reorder lines).</summary>
    private sealed class SyncProgress(Action<string> report) : IProgress<string>
    {
        public void Report(string value) => report(value);
    }

    private static AdapterKind ParseKind(string kind) => kind.ToLowerInvariant() switch
    {
        "linear" => AdapterKind.Linear,
        "nonlinear" or "non-linear" => AdapterKind.Nonlinear,
        "prefix" => AdapterKind.Prefix,
        _ => throw new UserException($"--kind '{kind}': expected linear, nonlinear or prefix"),
    };

    private static ScalarType ParseDType(string name) => name.ToLowerInvariant() switch
    {
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        "float16" or "fp16" or "half" => ScalarType.Float16,
        "float32" or "fp32" => ScalarType.Float32,
        _ => throw new UserException($"--dtype '{name}': expected bfloat16, float16 or float32"),
    };
}
