using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Evaluation.Scoring;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Training.Bench;
using LlamaAdapter.Training.Loading;

namespace LlamaAdapter.Bench;

/// <summary>
/// Multiple-choice log-likelihood scoring on our ggml engine: the sequential path (one request per graph, the shared
/// context kept in the KV cache) against batched scoring (<see cref="LlamaSession.EvaluateSequences"/> graphs of a
/// token budget), on a random Q8_0 LLaMA (dim 512, 4 layers, vocab 32000), one CPU thread, F16 cache.
/// "mmlu-like": 16 questions of 60-120 context tokens with four single-token choices (" A".." D"), as zero-shot MMLU.
/// "hellaswag-like": 8 questions of 40 context tokens with four 20-token endings. Each call scores one category's
/// requests; divide by the call's time for items/s. Sequential is each category's baseline.
/// Measured (2 shared cores, 1 thread, ShortRun): mmlu-like sequential 460 ms (139 requests/s), batched 512 tokens
/// 1645 ms (3.6×), 2048 tokens 1994 ms (4.3×); hellaswag-like sequential 704 ms (45/s), batched 1523 ms (2.2×).
/// Run: dotnet run -c Release --project bench/LlamaAdapter.Bench -- --filter '*ScoringBench*'
/// </summary>
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[ShortRunJob]
public class ScoringBench
{
    private const int Threads = 1;
    private string _dir = "";
    private GgmlLlamaModel? _model;
    private LlamaSession? _session;
    private LogLikelihoodRequest[] _mmlu = [], _hellaswag = [];

    [GlobalSetup]
    public void Setup()
    {
        var weights = TinyLlamaFactory.Create(RandomBenchModel.Config(dim: 512, layers: 4), seed: 1);
        _dir = Directory.CreateTempSubdirectory("scoring-bench-").FullName;
        string path = Path.Combine(_dir, "q8_0.gguf");
        RandomBenchModel.WriteModel(weights, path, GgmlType.Q8_0);
        _model = GgmlLlamaModel.Load(path, Threads);
        _session = new LlamaSession(_model);

        var rng = new Random(3);
        int[] Ids(int n) => Enumerable.Range(0, n).Select(_ => rng.Next(3, 32000)).ToArray();
        _mmlu = [.. Enumerable.Range(0, 16).SelectMany(q =>
        {
            int[] context = [1, .. Ids(60 + rng.Next(61))];
            return Enumerable.Range(0, 4).Select(c => new LogLikelihoodRequest(context, [330 + c]));
        })];
        _hellaswag = [.. Enumerable.Range(0, 8).SelectMany(q =>
        {
            int[] context = [1, .. Ids(40)];
            return Enumerable.Range(0, 4).Select(c => new LogLikelihoodRequest(context, Ids(20)));
        })];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _session?.Dispose();
        _model?.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private int Score(LogLikelihoodRequest[] requests, int batchTokens) =>
        new GgmlLogLikelihoodModel(_session!, batchTokens).Score(requests).Count(r => r.IsGreedy);

    [Benchmark(Baseline = true), BenchmarkCategory("mmlu-like 64 requests")]
    public int MmluSequential() => Score(_mmlu, 0);

    [Benchmark, BenchmarkCategory("mmlu-like 64 requests")]
    public int MmluBatched512() => Score(_mmlu, 512);

    [Benchmark, BenchmarkCategory("mmlu-like 64 requests")]
    public int MmluBatched2048() => Score(_mmlu, 2048);

    [Benchmark(Baseline = true), BenchmarkCategory("hellaswag-like 32 requests")]
    public int HellaswagSequential() => Score(_hellaswag, 0);

    [Benchmark, BenchmarkCategory("hellaswag-like 32 requests")]
    public int HellaswagBatched512() => Score(_hellaswag, 512);
}
