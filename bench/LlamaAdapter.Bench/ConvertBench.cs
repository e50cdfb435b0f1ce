using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using LlamaAdapter.Convert;
using LlamaAdapter.Convert.Bench;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Tokenizers;

namespace LlamaAdapter.Bench;

/// <summary>
/// HF bf16 → GGUF wall time on a synthetic LLaMA-7B-shaped checkpoint (dim 4096, ffn 11008, 32 heads, vocab 32000,
/// two shards), written once in GlobalSetup: <see cref="Layers"/> of the 32 blocks (default 2, ≈ 1.3 GB, so the suite
/// runs on a small shared machine; LLAMA_ADAPTER_BENCH_LAYERS=32 gives the full 13.5 GB model — check df first).
/// Baseline: bf16 → BF16, the same read / widen / narrow / write pipeline without quantization; Q8_0 adds the
/// parallel row quantization. Peak RSS of the process is printed at cleanup (streaming: one row chunk per tensor
/// in flight, so it stays far below the model size).
/// Run: dotnet run -c Release --project bench/LlamaAdapter.Bench -- --filter '*ConvertBench*'
/// </summary>
[Config(typeof(Settings))]
public class ConvertBench
{
    /// <summary>Seconds per operation: a few monitored runs, in process (a generated project takes minutes to build on a small machine).</summary>
    private sealed class Settings : ManualConfig
    {
        public Settings() => AddJob(Job.Default.WithStrategy(RunStrategy.Monitoring).WithLaunchCount(1).WithWarmupCount(1)
                                       .WithIterationCount(3).WithToolchain(InProcessEmitToolchain.Instance));
    }

    private string _dir = "", _hf = "";
    private SentencePieceModel _tokenizer = null!;

    public int Layers { get; } = int.TryParse(Environment.GetEnvironmentVariable("LLAMA_ADAPTER_BENCH_LAYERS"), out int n) && n > 0 ? n : 2;

    [GlobalSetup]
    public void Setup()
    {
        _dir = Path.Combine(Path.GetTempPath(), "convert-bench-" + Guid.NewGuid().ToString("N"));
        _hf = Path.Combine(_dir, "hf");
        SyntheticCheckpoint.WriteHf(_hf, SyntheticShape.Llama7B with { Layers = Layers }, shards: 2);
        _tokenizer = SyntheticCheckpoint.Tokenizer(32000);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        // Peak RSS counts the pages of the memory-mapped input too (file-backed, reclaimable); RssAnon is the heap.
        var (anon, file) = ProcessMemory.CurrentBytes();
        string status = $"RssAnon {anon / 1048576.0:0} MiB, RssFile {file / 1048576.0:0} MiB";
        Console.WriteLine($"// ConvertBench: {Layers} layers, peak RSS {Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0:0} MiB " +
                          $"(checkpoint {Directory.GetFiles(_hf).Sum(f => new FileInfo(f).Length) / 1048576.0:0} MiB); now {status}");
        Directory.Delete(_dir, recursive: true);
    }

    private void Run(OutputType type) =>
        ModelConverter.Convert(_hf, Path.Combine(_dir, $"out.{type}.gguf"), new ConvertOptions(type, Tokenizer: _tokenizer));

    [Benchmark(Baseline = true)]
    public void Bf16ToBf16() => Run(OutputType.BF16);

    [Benchmark]
    public void Bf16ToQ8_0() => Run(OutputType.Q8_0);
}
