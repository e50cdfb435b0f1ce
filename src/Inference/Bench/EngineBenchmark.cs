using System.Diagnostics;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Adapters;
using LlamaAdapter.Inference.Model;

namespace LlamaAdapter.Inference.Bench;

/// <summary>
/// What <see cref="EngineBenchmark"/> runs: a <see cref="PromptTokens"/>-token prompt in one batch, then
/// <see cref="DecodeTokens"/> single-token steps after it, <see cref="Reps"/> timed times (after
/// <see cref="Warmup"/> untimed ones) per engine, on <see cref="Threads"/> CPU threads.
/// </summary>
public sealed record EngineBenchOptions(
    string ModelPath,
    int Threads,
    int PromptTokens = 128,
    int DecodeTokens = 64,
    int Reps = 3,
    string? AdapterPath = null,
    int Warmup = 1,
    int Seed = 0)
{
    public EngineBenchOptions Validate()
    {
        if (Threads < 1) throw new ArgumentException($"threads = {Threads}: expected >= 1");
        if (PromptTokens < 1) throw new ArgumentException($"prompt = {PromptTokens}: expected >= 1");
        if (DecodeTokens < 1) throw new ArgumentException($"decode = {DecodeTokens}: expected >= 1");
        if (Reps < 1) throw new ArgumentException($"reps = {Reps}: expected >= 1");
        if (Warmup < 0) throw new ArgumentException($"warmup = {Warmup}: expected >= 0");
        return this;
    }

    /// <summary>KV positions both engines allocate: prompt + decode, rounded up to libllama's multiple of 256.</summary>
    public int ContextSize => (PromptTokens + DecodeTokens + 255) / 256 * 256;
}

/// <summary>Seconds per timed rep of one engine on one test; tokens/s is the median rep's.</summary>
public sealed record EngineMeasurement(string Engine, string Test, int Tokens, IReadOnlyList<double> Seconds)
{
    public double MedianSeconds
    {
        get
        {
            var s = Seconds.Order().ToArray();
            return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
        }
    }

    public double TokensPerSecond => Tokens / MedianSeconds;

    /// <summary>The fastest rep: on a shared machine the least disturbed one, so the closest to the engine's own speed.</summary>
    public double BestTokensPerSecond => Tokens / Seconds.Min();
}

/// <summary>
/// One comparison row: ours against a baseline on the same test. <see cref="Ratio"/> is ours/baseline in tokens/s
/// (≥ 1: ours is at least as fast); <see cref="OverheadPercent"/> is the extra time ours takes, in % of the baseline's.
/// </summary>
public sealed record EngineComparison(string Test, EngineMeasurement Ours, EngineMeasurement Baseline)
{
    public double Ratio => Ours.TokensPerSecond / Baseline.TokensPerSecond;
    public double OverheadPercent => 100 * (Ours.MedianSeconds / Baseline.MedianSeconds - 1);
    public double BestRatio => Ours.BestTokensPerSecond / Baseline.BestTokensPerSecond;
    public double BestOverheadPercent => 100 * (Baseline.BestTokensPerSecond / Ours.BestTokensPerSecond - 1);
}

/// <param name="PromptLogitsMaxAbsDiff">max |ours − libllama| over the logits of the last prompt token (same file, same KV cache type).</param>
/// <param name="AdapterOverhead">Ours with the adapter against ours without it; empty without an adapter.</param>
public sealed record EngineBenchResult(
    EngineBenchOptions Options,
    string ModelDescription,
    int ContextSize,
    string Settings,
    double PromptLogitsMaxAbsDiff,
    IReadOnlyList<EngineComparison> VersusLlamaCpp,
    IReadOnlyList<EngineComparison> AdapterOverhead);

/// <summary>
/// Prompt-processing and decode speed of our ggml engine against llama.cpp's libllama on the same GGUF file, same
/// thread count and the same attention setup (F16 KV cache, no flash attention, the whole prompt in one batch), in
/// interleaved reps (engines alternate within each rep so machine noise hits both); optionally with a prompt
/// adapter against the same engine without it.
/// </summary>
public static class EngineBenchmark
{
    public const string Ours = "ours", LlamaCpp = "libllama", OursAdapter = "ours + adapter";
    public const string Prompt = "prompt", Decode = "decode";

    public static EngineBenchResult Run(EngineBenchOptions options, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        options.Validate();
        int ctxSize = options.ContextSize;
        using var model = GgmlLlamaModel.Load(options.ModelPath, options.Threads);
        var c = model.Config;
        if (ctxSize > c.ContextLength)
            throw new BadInputException($"{options.ModelPath}: prompt {options.PromptTokens} + decode {options.DecodeTokens} need a context of " +
                                        $"{ctxSize} (rounded to 256), the model's context length is {c.ContextLength}");
        using var adapter = options.AdapterPath is null ? null : GgmlPromptAdapter.Load(options.AdapterPath, model);
        using var ours = new LlamaSession(model, null, ctxSize, GgmlType.F16);
        using var oursAdapter = adapter is null ? null : new LlamaSession(model, adapter, ctxSize, GgmlType.F16);
        int batch = Math.Max(512, options.PromptTokens);
        using var theirs = LlamaCppContext.Open(options.ModelPath, options.Threads, ctxSize, batch, GgmlType.F16, flashAttention: false);
        if (theirs.VocabSize != c.VocabSize)
            throw new BadInputException($"{options.ModelPath}: libllama reads a vocabulary of {theirs.VocabSize}, the model has {c.VocabSize} rows");

        var rng = new Random(options.Seed);
        int[] prompt = Enumerable.Range(0, options.PromptTokens).Select(_ => rng.Next(c.VocabSize)).ToArray();
        int[] decode = Enumerable.Range(0, options.DecodeTokens).Select(_ => rng.Next(c.VocabSize)).ToArray();

        // The same prompt through both: a wrong graph would be fast for nothing.
        ours.Reset();
        float[] a = ours.Evaluate(prompt);
        theirs.Reset();
        theirs.Decode(prompt);
        float[] b = theirs.LastLogits();
        double diff = 0;
        for (int i = 0; i < a.Length; i++) diff = Math.Max(diff, Math.Abs(a[i] - b[i]));

        var logits = new float[c.VocabSize];
        var runs = new List<(string Name, Func<int[], (double, double)> Run)>
        {
            (Ours, p => Time(() => { ours.Reset(); ours.Evaluate(p, logits); }, d => ours.Evaluate(d, logits), decode)),
            (LlamaCpp, p => Time(() => { theirs.Reset(); theirs.Decode(p); }, d => theirs.Decode(d), decode)),
        };
        if (oursAdapter is not null)
            runs.Add((OursAdapter, p => Time(() => { oursAdapter.Reset(); oursAdapter.Evaluate(p, logits); }, d => oursAdapter.Evaluate(d, logits), decode)));

        var promptSeconds = runs.ToDictionary(r => r.Name, _ => new List<double>());
        var decodeSeconds = runs.ToDictionary(r => r.Name, _ => new List<double>());
        for (int rep = -options.Warmup; rep < options.Reps; rep++)
        {
            // Rotate who goes first so a slow moment on the shared machine does not always land on the same engine.
            int start = (rep + options.Warmup) % runs.Count;
            for (int k = 0; k < runs.Count; k++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var (name, run) = runs[(start + k) % runs.Count];
                var (pp, tg) = run(prompt);
                if (rep < 0) continue;
                promptSeconds[name].Add(pp);
                decodeSeconds[name].Add(tg);
            }
            if (rep >= 0)
                log?.Invoke(string.Join(", ", runs.Select(r =>
                    FormattableString.Invariant($"{r.Name} {options.PromptTokens / promptSeconds[r.Name][^1]:0.0}/{options.DecodeTokens / decodeSeconds[r.Name][^1]:0.0}"))) +
                    $" tok/s prompt/decode (rep {rep + 1}/{options.Reps})");
        }

        EngineMeasurement M(string engine, string test) => test == Prompt
            ? new(engine, test, options.PromptTokens, promptSeconds[engine])
            : new(engine, test, options.DecodeTokens, decodeSeconds[engine]);
        var versus = new List<EngineComparison>
        {
            new(Prompt, M(Ours, Prompt), M(LlamaCpp, Prompt)),
            new(Decode, M(Ours, Decode), M(LlamaCpp, Decode)),
        };
        var overhead = oursAdapter is null ? new List<EngineComparison>() :
        [
            new(Prompt, M(OursAdapter, Prompt), M(Ours, Prompt)),
            new(Decode, M(OursAdapter, Decode), M(Ours, Decode)),
        ];
        string description = FormattableString.Invariant(
            $"{Path.GetFileName(options.ModelPath)}: {model.EmbeddingType} embeddings, dim {c.Dim}, {c.NLayers} layers, {c.NHeads}/{c.NKvHeads} heads, ffn {c.FfnDim}, vocab {c.VocabSize}") +
            (adapter is null ? "" : FormattableString.Invariant($"; adapter {adapter.Kind}, L={adapter.PromptLength}, {adapter.Keys.Length} layers"));
        string settings = FormattableString.Invariant(
            $"{options.Threads} threads each, F16 KV cache, no flash attention, prompt in one batch (libllama n_batch = n_ubatch = {batch}), CPU only, context {ctxSize}");
        return new EngineBenchResult(options, description, ctxSize, settings, diff, versus, overhead);
    }

    /// <summary>Seconds for the prompt, then for the decode steps that follow it.</summary>
    private static (double Prompt, double Decode) Time(Action prompt, Action<int[]> step, int[] decode)
    {
        long t0 = Stopwatch.GetTimestamp();
        prompt();
        long t1 = Stopwatch.GetTimestamp();
        var one = new int[1];
        foreach (int id in decode)
        {
            one[0] = id;
            step(one);
        }
        long t2 = Stopwatch.GetTimestamp();
        return (Stopwatch.GetElapsedTime(t0, t1).TotalSeconds, Stopwatch.GetElapsedTime(t1, t2).TotalSeconds);
    }
}
