using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Training.Loading;

namespace LlamaAdapter.Bench;

/// <summary>
/// Our ggml engine on a random 4-layer dim-512 LLaMA (vocab 32000, GQA 8/4), F32 and Q8_0 files: a 128-token
/// prefill, and 32 single-token decode steps after a 64-token prompt. The F32 run is each category's baseline, so
/// the Q8_0 ratio shows whether ggml's quantized kernels are in use (expected well under 1 on decode, which is
/// bandwidth-bound). The libllama comparison waits for its context API on main.
/// Run: dotnet run -c Release --project bench/LlamaAdapter.Bench -- --filter '*EngineBench*'
/// </summary>
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[ShortRunJob]
public class EngineBench
{
    private string _dir = "";
    private GgmlLlamaModel? _f32, _q8;
    private LlamaSession? _f32Session, _q8Session;
    private readonly int[] _prompt = Enumerable.Range(0, 128).Select(i => (i * 7919) % 32000).ToArray();

    [GlobalSetup]
    public void Setup()
    {
        var config = new LlamaConfig(Dim: 512, NLayers: 4, NHeads: 8, NKvHeads: 4, FfnDim: 1376, VocabSize: 32000, ContextLength: 256);
        var weights = TinyLlamaFactory.Create(config, seed: 1);
        _dir = Directory.CreateTempSubdirectory("engine-bench-").FullName;
        TinyLlamaFactory.WriteGguf(weights, Path.Combine(_dir, "f32.gguf"));
        TinyLlamaFactory.WriteGguf(weights, Path.Combine(_dir, "q8_0.gguf"), GgmlType.Q8_0);
        _f32 = GgmlLlamaModel.Load(Path.Combine(_dir, "f32.gguf"));
        _q8 = GgmlLlamaModel.Load(Path.Combine(_dir, "q8_0.gguf"));
        _f32Session = new LlamaSession(_f32);
        _q8Session = new LlamaSession(_q8);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _f32Session?.Dispose();
        _q8Session?.Dispose();
        _f32?.Dispose();
        _q8?.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private float[] Prefill(LlamaSession s)
    {
        s.Reset();
        return s.Evaluate(_prompt);
    }

    private float[] Decode(LlamaSession s)
    {
        s.Reset();
        float[] logits = s.Evaluate(_prompt.AsSpan(0, 64));
        for (int i = 0; i < 32; i++) logits = s.Evaluate(_prompt.AsSpan(64 + i, 1));
        return logits;
    }

    [Benchmark(Baseline = true), BenchmarkCategory("prefill 128")]
    public float[] PrefillF32() => Prefill(_f32Session!);

    [Benchmark, BenchmarkCategory("prefill 128")]
    public float[] PrefillQ8_0() => Prefill(_q8Session!);

    [Benchmark(Baseline = true), BenchmarkCategory("64 + decode 32")]
    public float[] DecodeF32() => Decode(_f32Session!);

    [Benchmark, BenchmarkCategory("64 + decode 32")]
    public float[] DecodeQ8_0() => Decode(_q8Session!);
}
