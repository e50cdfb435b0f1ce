using System.Globalization;
using System.Text.Json;
using Cocona;
using LlamaAdapter.Core;
using LlamaAdapter.Convert.Bench;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Bench;
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
        var r = TrainStepBench.Run(options, new InlineProgress<string>(m => AnsiConsole.MarkupLineInterpolated($"[grey]{m}[/]")));
        Print(r, peakTflops);
        return 0;
    }

    [Command("engine", Description = "Prompt-processing and decode tokens/s of our ggml engine against llama.cpp's libllama on the same GGUF, same threads, " +
                                     "same attention setup (F16 KV cache, no flash attention), interleaved reps, medians; with --adapter also the adapter's cost. " +
                                     "Without -m it writes a random LLaMA (dim 1024, 4 layers, vocab 32000) as F32 and Q8_0 in a temp dir. " +
                                     "Example: llama-adapter bench engine -m llama-2-7b.Q8_0.gguf --threads 8 --adapter a.adapter.gguf")]
    public int Engine(
        [Option('m', Description = "A llama.cpp LLaMA GGUF (default: random F32 and Q8_0 models)")] string? model = null,
        [Option(Description = "Adapter GGUF for the model (with a random model: 'random' makes one, L=10 on every layer)")] string? adapter = null,
        [Option(Description = "CPU threads for both engines (default: all cores)")] int? threads = null,
        [Option(Description = "Prompt tokens, processed in one batch")] int prompt = 128,
        [Option(Description = "Single-token decode steps after the prompt")] int decode = 64,
        [Option(Description = "Timed reps per engine (the median is reported)")] int reps = 3,
        [Option(Description = "Untimed reps first")] int warmup = 1,
        [Option(Description = "Random model width (without -m)")] int dim = 1024,
        [Option(Description = "Random model layers (without -m)")] int layers = 4,
        [Option(Description = "Random model weight types (without -m), comma-separated: f32, f16, bf16, q8_0, q4_0, ...")] string types = "f32,q8_0",
        [Option(Description = "Keep the random model files (their folder is printed) to rerun with -m")] bool keep = false,
        [Option(Description = "Print the results as JSON")] bool json = false,
        [Option(Description = "Show ggml's and libllama's whole log (buffer types, sizes) on stderr")] bool verbose = false)
    {
        if (verbose) GgmlLog.Sink = (level, line) => Console.Error.WriteLine($"[{level}] {line}");
        int n = threads ?? Environment.ProcessorCount;
        if (n < 1) throw new UserException($"--threads: expected >= 1, got {n}");
        if (model is null && (dim < 64 || dim % 64 != 0)) throw new UserException($"--dim: expected a multiple of 64, got {dim}");
        if (model is null && layers < 1) throw new UserException($"--layers: expected >= 1, got {layers}");
        if (model is not null && adapter == "random") throw new UserException("--adapter random: only with a random model (no -m); pass an adapter GGUF for this model");
        Action<string> log = json ? m => Console.Error.WriteLine(m) : m => AnsiConsole.MarkupLineInterpolated($"[grey]{m}[/]");

        var weightTypes = new List<GgmlType>();
        foreach (var name in types.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            weightTypes.Add(Enum.TryParse<GgmlType>(name, ignoreCase: true, out var t) && Enum.IsDefined(t)
                ? t : throw new UserException($"--types: '{name}' is no ggml type (expected e.g. f32, f16, q8_0, q4_0)"));
        string? temp = null;
        try
        {
            var files = new List<(string Model, string? Adapter)>();
            if (model is not null) files.Add((model, adapter));
            else
            {
                temp = Directory.CreateTempSubdirectory("llama-adapter-bench-").FullName;
                var config = RandomBenchModel.Config(dim, layers, contextLength: Math.Max(2048, (prompt + decode + 255) / 256 * 256));
                log($"writing a random model ({config.Dim} dim, {config.NLayers} layers, vocab {config.VocabSize}) to {temp}");
                var weights = LlamaAdapter.Training.Loading.TinyLlamaFactory.Create(config, seed: 1);
                string? adapterPath = null;
                if (adapter == "random")
                {
                    adapterPath = Path.Combine(temp, "random.adapter.gguf");
                    RandomBenchModel.WriteAdapter(weights, adapterPath);
                }
                else adapterPath = adapter;
                foreach (var type in weightTypes)
                {
                    string path = Path.Combine(temp, $"random-{type.ToString().ToLowerInvariant()}.gguf");
                    RandomBenchModel.WriteModel(weights, path, type);
                    files.Add((path, adapterPath));
                }
            }

            var results = new List<EngineBenchResult>();
            foreach (var (m, a) in files)
            {
                EngineBenchOptions options;
                try { options = new EngineBenchOptions(m, n, prompt, decode, reps, a, warmup).Validate(); }
                catch (ArgumentException e) { throw new UserException($"bench engine: {e.Message}"); }
                log($"{Path.GetFileName(m)}: {reps} reps of a {prompt}-token prompt + {decode} decode steps on {n} threads");
                results.Add(EngineBenchmark.Run(options, log));
            }
            if (json) Console.WriteLine(JsonSerializer.Serialize(results.Select(EngineJson), new JsonSerializerOptions { WriteIndented = true }));
            else foreach (var r in results) Print(r);
            return 0;
        }
        finally
        {
            if (temp is not null && keep) log($"kept {temp}");
            else if (temp is not null) Directory.Delete(temp, recursive: true);
        }
    }

    [Command("convert", Description = "Wall time and peak RSS of converting a checkpoint to GGUF, against bf16 → BF16 (no quantization) in the same run. " +
                                      "Without --checkpoint it writes a synthetic LLaMA-7B of random bf16 weights (13.5 GB: check df) first. " +
                                      "Example: llama-adapter bench convert --types q8_0,q4_k")]
    public int Convert(
        [Option(Description = "Output types, comma-separated (F16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K, ...); BF16 always runs as the baseline")] string types = "q8_0,q4_k",
        [Option(Description = "An HF or Meta checkpoint directory or a GGUF to convert instead of the synthetic one")] string? checkpoint = null,
        [Option(Description = "Synthetic model layers (32 = LLaMA-7B; fewer for a quick look)")] int layers = 32,
        [Option(Description = "Synthetic checkpoint shards")] int shards = 2,
        [Option(Description = "Where the synthetic checkpoint and outputs go (default: a temp dir)")] string? dir = null,
        [Option(Description = "Keep the synthetic checkpoint and the outputs")] bool keep = false,
        [Option(Description = "Print the results as JSON")] bool json = false)
    {
        var list = new List<LlamaAdapter.Convert.OutputType>();
        foreach (var name in types.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            list.Add(LlamaAdapter.Convert.OutputType.Parse(name));
        if (layers < 1) throw new UserException($"--layers: expected >= 1, got {layers}");
        if (checkpoint is not null && !File.Exists(checkpoint) && !Directory.Exists(checkpoint))
            throw new UserException($"--checkpoint {checkpoint}: no such file or directory");
        Action<string> log = json ? m => Console.Error.WriteLine(m) : m => AnsiConsole.MarkupLineInterpolated($"[grey]{m}[/]");
        string work = dir ?? Directory.CreateTempSubdirectory("llama-adapter-convert-bench-").FullName;
        bool madeDir = dir is null;
        using var cancel = new ConsoleCancellation();   // Ctrl-C: the converter removes its temporary file, then the folder goes
        try
        {
            ConvertBenchResult r;
            try
            {
                var shape = LlamaAdapter.Convert.Bench.SyntheticShape.Llama7B with { Layers = layers };
                r = ConvertBenchmark.Run(new ConvertBenchOptions(list, work, checkpoint, shape, shards, keep), log, cancel.Token);
            }
            catch (ArgumentException e) { throw new UserException($"bench convert: {e.Message}"); }
            if (json) Console.WriteLine(JsonSerializer.Serialize(ConvertJson(r), new JsonSerializerOptions { WriteIndented = true }));
            else Print(r);
            return 0;
        }
        finally
        {
            if (madeDir && !keep) Directory.Delete(work, recursive: true);
            else if (keep) log($"kept {work}");
        }
    }

    private static void Print(ConvertBenchResult r)
    {
        var inv = CultureInfo.InvariantCulture;
        static string MiB(long? b) => b is { } v ? (v / 1048576.0).ToString("0", CultureInfo.InvariantCulture) : "n/a";
        AnsiConsole.MarkupLineInterpolated($"[bold]{r.Description}[/]");
        string caveat = r.PeakIsPerRun ? "" : "; peak RSS could not be restarted per run (no /proc/self/clear_refs): each value is the peak so far";
        AnsiConsole.MarkupLineInterpolated($"[grey]input {r.InputBytes / 1e9:0.00} GB; process RSS before converting {MiB(r.IdleRssBytes)} MiB{caveat}[/]");
        var t = new Table().AddColumns("output", "seconds", "input GB/s", "time / BF16", "peak RSS (MiB)", "output GB");
        foreach (var m in r.Runs.Prepend(r.Baseline))
            t.AddRow(m.Type.Name + (m == r.Baseline ? " (baseline)" : ""), m.Seconds.ToString("0.0", inv), (m.InputBytesPerSecond(r.InputBytes) / 1e9).ToString("0.00", inv),
                     (m.Seconds / r.Baseline.Seconds).ToString("0.00", inv), MiB(m.PeakRssBytes), (m.OutputBytes / 1e9).ToString("0.00", inv));
        t.Caption = new TableTitle("one conversion each; peak RSS = VmHWM, restarted before each conversion");
        AnsiConsole.Write(t);
    }

    private static object ConvertJson(ConvertBenchResult r) => new
    {
        checkpoint = r.Description, input_bytes = r.InputBytes, idle_rss_bytes = r.IdleRssBytes, peak_is_per_run = r.PeakIsPerRun,
        runs = r.Runs.Prepend(r.Baseline).Select(m => new
        {
            type = m.Type.Name, baseline = m == r.Baseline, seconds = m.Seconds, ratio_to_baseline = m.Seconds / r.Baseline.Seconds,
            peak_rss_bytes = m.PeakRssBytes, output_bytes = m.OutputBytes,
        }),
    };

    private static void Print(EngineBenchResult r)
    {
        var inv = CultureInfo.InvariantCulture;
        AnsiConsole.MarkupLineInterpolated($"[bold]{r.ModelDescription}[/]");
        AnsiConsole.MarkupLineInterpolated($"[grey]{r.Settings}; max |Δlogit| ours vs libllama after the prompt: {r.PromptLogitsMaxAbsDiff.ToString("0.0e0", inv)}[/]");
        string Speed(EngineMeasurement m) => $"{m.TokensPerSecond.ToString("0.0", inv)} ({m.BestTokensPerSecond.ToString("0.0", inv)})";
        var t = new Table().AddColumns("test", "ours tok/s", "libllama tok/s", "ours / libllama", "samples (s) ours | libllama");
        foreach (var c in r.VersusLlamaCpp)
            t.AddRow(Markup.Escape($"{c.Test} {c.Ours.Tokens}"), Speed(c.Ours), Speed(c.Baseline),
                     $"{c.Ratio.ToString("0.000", inv)} ({c.BestRatio.ToString("0.000", inv)})", Markup.Escape(Samples(c.Ours) + " | " + Samples(c.Baseline)));
        t.Caption = new TableTitle("median over the reps (best rep in brackets)");
        AnsiConsole.Write(t);
        if (r.AdapterOverhead.Count == 0) return;
        var a = new Table().AddColumns("test", "with adapter tok/s", "without tok/s", "adapter overhead", "samples (s) with | without");
        foreach (var c in r.AdapterOverhead)
            a.AddRow(Markup.Escape($"{c.Test} {c.Ours.Tokens}"), Speed(c.Ours), Speed(c.Baseline),
                     $"{c.OverheadPercent.ToString("+0.0;-0.0", inv)} % ({c.BestOverheadPercent.ToString("+0.0;-0.0", inv)} %)",
                     Markup.Escape(Samples(c.Ours) + " | " + Samples(c.Baseline)));
        a.Caption = new TableTitle("extra time with the adapter: median (best rep)");
        AnsiConsole.Write(a);
    }

    private static string Samples(EngineMeasurement m) => string.Join(" ", m.Seconds.Select(s => s.ToString("0.000", CultureInfo.InvariantCulture)));

    private static object EngineJson(EngineBenchResult r) => new
    {
        model = r.ModelDescription, path = r.Options.ModelPath, adapter = r.Options.AdapterPath, threads = r.Options.Threads,
        prompt_tokens = r.Options.PromptTokens, decode_tokens = r.Options.DecodeTokens, reps = r.Options.Reps, settings = r.Settings,
        prompt_logits_max_abs_diff = r.PromptLogitsMaxAbsDiff,
        versus_libllama = r.VersusLlamaCpp.Select(c => new
        {
            test = c.Test, ours_tok_s = c.Ours.TokensPerSecond, libllama_tok_s = c.Baseline.TokensPerSecond, ratio = c.Ratio,
            ours_best_tok_s = c.Ours.BestTokensPerSecond, libllama_best_tok_s = c.Baseline.BestTokensPerSecond, best_ratio = c.BestRatio,
            ours_seconds = c.Ours.Seconds, libllama_seconds = c.Baseline.Seconds,
        }),
        adapter_overhead = r.AdapterOverhead.Select(c => new
        {
            test = c.Test, with_tok_s = c.Ours.TokensPerSecond, without_tok_s = c.Baseline.TokensPerSecond, overhead_percent = c.OverheadPercent,
            best_overhead_percent = c.BestOverheadPercent,
            with_seconds = c.Ours.Seconds, without_seconds = c.Baseline.Seconds,
        }),
    };

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
