using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Adapters;
using LlamaAdapter.Inference.Bench;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Training.Bench;
using LlamaAdapter.Training.Loading;

namespace LlamaAdapter.Bench;

/// <summary>
/// Our ggml engine against llama.cpp's libllama on the same random Q8_0 LLaMA file (dim 1024, 4 layers, vocab 32000),
/// one CPU thread each, F16 KV cache, no flash attention: a 128-token prefill, and 32 single-token decode steps after
/// a 64-token prompt. libllama is each category's baseline, so the Ratio column is our time over libllama's
/// (≤ 1.03 meets the target of at least 0.97× libllama's speed); the adapter row (linear, L=10 on every layer) shows its cost.
/// `llama-adapter bench engine` measures the same interleaved, with medians, on any file.
/// Run: dotnet run -c Release --project bench/LlamaAdapter.Bench -- --filter '*EngineBench*'
/// </summary>
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[ShortRunJob]
public class EngineBench
{
    private const int Threads = 1;
    private string _dir = "";
    private GgmlLlamaModel? _model;
    private GgmlPromptAdapter? _adapter;
    private LlamaSession? _ours, _oursAdapter;
    private LlamaCppContext? _theirs;
    private readonly int[] _prompt = Enumerable.Range(0, 128).Select(i => (i * 7919) % 32000).ToArray();
    private readonly float[] _logits = new float[32000];

    [GlobalSetup]
    public void Setup()
    {
        var weights = TinyLlamaFactory.Create(RandomBenchModel.Config(dim: 1024, layers: 4), seed: 1);
        _dir = Directory.CreateTempSubdirectory("engine-bench-").FullName;
        string model = Path.Combine(_dir, "q8_0.gguf"), adapter = Path.Combine(_dir, "adapter.gguf");
        RandomBenchModel.WriteModel(weights, model, GgmlType.Q8_0);
        RandomBenchModel.WriteAdapter(weights, adapter);
        _model = GgmlLlamaModel.Load(model, Threads);
        _adapter = GgmlPromptAdapter.Load(adapter, _model);
        _ours = new LlamaSession(_model, null, 256);
        _oursAdapter = new LlamaSession(_model, _adapter, 256);
        _theirs = LlamaCppContext.Open(model, Threads, 256, 512, GgmlType.F16, flashAttention: false);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _theirs?.Dispose();
        _ours?.Dispose();
        _oursAdapter?.Dispose();
        _adapter?.Dispose();
        _model?.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private float Prefill(LlamaSession s)
    {
        s.Reset();
        s.Evaluate(_prompt, _logits);
        return _logits[0];
    }

    private float Decode(LlamaSession s)
    {
        s.Reset();
        s.Evaluate(_prompt.AsSpan(0, 64), _logits);
        for (int i = 0; i < 32; i++) s.Evaluate(_prompt.AsSpan(64 + i, 1), _logits);
        return _logits[0];
    }

    [Benchmark(Baseline = true), BenchmarkCategory("prefill 128")]
    public int PrefillLibllama()
    {
        _theirs!.Reset();
        _theirs.Decode(_prompt);
        return _theirs.Position;
    }

    [Benchmark, BenchmarkCategory("prefill 128")]
    public float PrefillOurs() => Prefill(_ours!);

    [Benchmark, BenchmarkCategory("prefill 128")]
    public float PrefillOursAdapter() => Prefill(_oursAdapter!);

    [Benchmark(Baseline = true), BenchmarkCategory("64 + decode 32")]
    public int DecodeLibllama()
    {
        _theirs!.Reset();
        _theirs.Decode(_prompt.AsSpan(0, 64));
        for (int i = 0; i < 32; i++) _theirs.Decode(_prompt.AsSpan(64 + i, 1));
        return _theirs.Position;
    }

    [Benchmark, BenchmarkCategory("64 + decode 32")]
    public float DecodeOurs() => Decode(_ours!);

    [Benchmark, BenchmarkCategory("64 + decode 32")]
    public float DecodeOursAdapter() => Decode(_oursAdapter!);
}
