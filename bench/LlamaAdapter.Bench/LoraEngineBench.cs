using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using LlamaAdapter.Convert;
using LlamaAdapter.Convert.Lora;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Adapters;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Training.Loading;

namespace LlamaAdapter.Bench;

/// <summary>
/// What a LoRA costs our ggml engine: EngineBench's random 4-layer dim-512 LLaMA as Q8_0, plain (the baseline), with a
/// rank-8 LoRA on all seven projections applied in the graph (two extra small products per weight), and with the same
/// LoRA merged into a Q8_0 file (convert --merge-lora; costs what the plain model costs). One ggml thread: the ratio
/// is the work the branch adds, not how well a thread pool copes with a busy machine (on a loaded 2-core box,
/// ggml's per-op barriers made the multi-threaded numbers pure noise). Measured there (ShortRun, load average ~9):
/// decode 1.80× plain with the runtime LoRA, 1.15× merged; prefill 1.23× and 1.06× — on a model this small the branch's
/// 21 extra ops per layer cost more than its FLOPs (r·(in+out) against in·out: ~3 % here, ~0.4 % at 7B and r = 8).
/// Run: dotnet run -c Release --project bench/LlamaAdapter.Bench -- --filter '*LoraEngineBench*'
/// </summary>
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[ShortRunJob]
public class LoraEngineBench
{
    private string _dir = "";
    private GgmlLlamaModel? _plain, _merged;
    private GgmlLoraAdapter? _lora;
    private LlamaSession? _plainSession, _loraSession, _mergedSession;
    private readonly int[] _prompt = Enumerable.Range(0, 128).Select(i => (i * 7919) % 32000).ToArray();

    [GlobalSetup]
    public void Setup()
    {
        var c = new LlamaConfig(Dim: 512, NLayers: 4, NHeads: 8, NKvHeads: 4, FfnDim: 1376, VocabSize: 32000, ContextLength: 256);
        _dir = Directory.CreateTempSubdirectory("lora-bench-").FullName;
        string Path(string name) => System.IO.Path.Combine(_dir, name);
        TinyLlamaFactory.WriteGguf(TinyLlamaFactory.Create(c, seed: 1), Path("q8_0.gguf"), GgmlType.Q8_0);

        const int rank = 8;
        var rng = new Random(2);
        float[] R(long n, double s) => Enumerable.Range(0, (int)n).Select(_ => (float)(s * (2 * rng.NextDouble() - 1))).ToArray();
        var pairs = new List<LoraPair>();
        for (int l = 0; l < c.NLayers; l++)
            foreach (var (kind, o, i) in new[] { (LlamaTensor.AttnQ, c.Dim, c.Dim), (LlamaTensor.AttnK, c.KvDim, c.Dim), (LlamaTensor.AttnV, c.KvDim, c.Dim),
                                                 (LlamaTensor.AttnOut, c.Dim, c.Dim), (LlamaTensor.FfnGate, c.FfnDim, c.Dim), (LlamaTensor.FfnUp, c.FfnDim, c.Dim),
                                                 (LlamaTensor.FfnDown, c.Dim, c.FfnDim) })
                pairs.Add(new LoraPair(new(kind, l), rank, i, o, R(rank * (long)i, 1 / Math.Sqrt(i)), R((long)o * rank, 0.1)));
        LoraGguf.Write(new LoraWeights(16f, pairs), Path("lora.gguf"), GgmlType.F32);
        LoraMerger.Convert(Path("q8_0.gguf"), Path("lora.gguf"), Path("merged.gguf"), new ConvertOptions(OutputType.Q8_0));

        _plain = GgmlLlamaModel.Load(Path("q8_0.gguf"), threads: 1);
        _merged = GgmlLlamaModel.Load(Path("merged.gguf"), threads: 1);
        _lora = GgmlLoraAdapter.Load(Path("lora.gguf"), _plain);
        _plainSession = new LlamaSession(_plain);
        _loraSession = new LlamaSession(_plain, lora: _lora);
        _mergedSession = new LlamaSession(_merged);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _plainSession?.Dispose();
        _loraSession?.Dispose();
        _mergedSession?.Dispose();
        _lora?.Dispose();
        _plain?.Dispose();
        _merged?.Dispose();
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
    public float[] PrefillPlain() => Prefill(_plainSession!);

    [Benchmark, BenchmarkCategory("prefill 128")]
    public float[] PrefillRuntimeLora() => Prefill(_loraSession!);

    [Benchmark, BenchmarkCategory("prefill 128")]
    public float[] PrefillMerged() => Prefill(_mergedSession!);

    [Benchmark(Baseline = true), BenchmarkCategory("64 + decode 32")]
    public float[] DecodePlain() => Decode(_plainSession!);

    [Benchmark, BenchmarkCategory("64 + decode 32")]
    public float[] DecodeRuntimeLora() => Decode(_loraSession!);

    [Benchmark, BenchmarkCategory("64 + decode 32")]
    public float[] DecodeMerged() => Decode(_mergedSession!);
}
