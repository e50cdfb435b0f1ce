using System.Diagnostics;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Tokenizers;

namespace LlamaAdapter.Convert.Bench;

/// <summary>What to convert and into which types; without <see cref="Checkpoint"/> a synthetic one of <see cref="Shape"/> is written first.</summary>
public sealed record ConvertBenchOptions(IReadOnlyList<OutputType> Types, string WorkDir, string? Checkpoint = null, SyntheticShape? Shape = null, int Shards = 2, bool Keep = false)
{
    public ConvertBenchOptions Validate()
    {
        if (Types.Count == 0) throw new ArgumentException("no output type to measure");
        if (Checkpoint is null && Shape is null) throw new ArgumentException("a checkpoint or a synthetic shape is needed");
        if (Shards < 1) throw new ArgumentException($"--shards: expected >= 1, got {Shards}");
        return this;
    }
}

/// <summary>One conversion: wall time, the process's peak resident set during it, and the output's size.</summary>
public sealed record ConvertMeasurement(OutputType Type, double Seconds, long? PeakRssBytes, long OutputBytes)
{
    public double InputBytesPerSecond(long inputBytes) => inputBytes / Math.Max(Seconds, 1e-9);
}

public sealed record ConvertBenchResult(string Checkpoint, string Description, long InputBytes, bool PeakIsPerRun, long? IdleRssBytes,
                                        ConvertMeasurement Baseline, IReadOnlyList<ConvertMeasurement> Runs);

/// <summary>
/// Conversion speed and memory on a checkpoint (by default a synthetic LLaMA-7B of random bf16 weights). Baseline:
/// the same checkpoint to BF16 — read, widen, narrow, write, no quantization — measured in the same run, so each
/// type's time is also a ratio to the I/O-bound floor of this disk. Peak RSS is VmHWM (what /usr/bin/time reports),
/// restarted before every conversion; converting streams one chunk of rows at a time and gives back the input's
/// mapped pages after each tensor, so it stays near one tensor's size whatever the model's.
/// </summary>
public static class ConvertBenchmark
{
    public static ConvertBenchResult Run(ConvertBenchOptions o, Action<string> log, CancellationToken ct = default)
    {
        o.Validate();
        Directory.CreateDirectory(o.WorkDir);
        string checkpoint = o.Checkpoint ?? Path.Combine(o.WorkDir, "hf");
        SentencePieceModel? tokenizer = null;
        string description;
        if (o.Checkpoint is null)
        {
            var shape = o.Shape!;
            log($"writing a synthetic bf16 checkpoint ({shape}) to {checkpoint}");
            var clock = Stopwatch.StartNew();
            SyntheticCheckpoint.WriteHf(checkpoint, shape, o.Shards, ct);
            log($"written in {clock.Elapsed.TotalSeconds:0.0} s");
            tokenizer = SyntheticCheckpoint.Tokenizer(shape.Vocab);
            description = $"synthetic bf16 LLaMA, {shape}";
        }
        else
        {
            using var source = ModelConverter.OpenSource(checkpoint);
            var c = source.Config;
            description = $"{checkpoint}: dim {c.Dim}, {c.NLayers} layers, vocab {c.VocabSize}";
        }
        long inputBytes = File.Exists(checkpoint) ? new FileInfo(checkpoint).Length
            : Directory.EnumerateFiles(checkpoint).Where(f => f.EndsWith(".safetensors", StringComparison.Ordinal) || f.EndsWith(".pth", StringComparison.Ordinal)).Sum(f => new FileInfo(f).Length);

        bool perRun = ProcessMemory.TryResetPeak();
        long? idleRss = ProcessMemory.PeakBytes();
        try
        {
            ConvertMeasurement Measure(OutputType type)
            {
                string output = Path.Combine(o.WorkDir, $"out.{type.Name.ToLowerInvariant()}.gguf");
                log($"converting to {type} → {output}");
                ProcessMemory.TryResetPeak();
                var clock = Stopwatch.StartNew();
                ModelConverter.Convert(checkpoint, output, new ConvertOptions(type, Tokenizer: tokenizer), ct);
                double seconds = clock.Elapsed.TotalSeconds;
                var m = new ConvertMeasurement(type, seconds, ProcessMemory.PeakBytes(), new FileInfo(output).Length);
                if (!o.Keep) File.Delete(output);
                log($"{type}: {seconds:0.0} s, peak RSS {m.PeakRssBytes / 1048576.0:0} MiB");
                return m;
            }

            var baseline = Measure(OutputType.BF16);
            var runs = o.Types.Where(t => t != OutputType.BF16).Select(Measure).ToList();
            return new ConvertBenchResult(checkpoint, description, inputBytes, perRun, idleRss, baseline, runs);
        }
        finally
        {
            if (o.Checkpoint is null && !o.Keep) Directory.Delete(checkpoint, recursive: true);
        }
    }
}
