using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Tests.Model;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Inference;

/// <summary>
/// Our ggml graph against the TorchSharp LlamaModel (the training reference), both reading the same tiny random
/// weights: logits at every position of a prompt.
/// </summary>
public sealed class EngineParityTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("engine-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal static int[] Prompt(int n, int vocab, int seed = 11)
    {
        var rng = new Random(seed);
        var ids = Enumerable.Range(0, n).Select(_ => rng.Next(vocab)).ToArray();
        ids[0] = 0;
        ids[^1] = vocab - 1;
        return ids;
    }

    internal static float[] TorchLogits(LlamaAdapter.Training.Model.LlamaModel model, int[] ids)
    {
        using var _ = no_grad();
        using var t = tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length], ScalarType.Int64);
        using var logits = model.forward(t);
        return logits.contiguous().data<float>().ToArray();           // [1, T, vocab] row-major
    }

    internal static double MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs((double)a[i] - b[i]));
        return m;
    }

    private string Write(TinyLlama tiny, GgmlType type = GgmlType.F32)
    {
        string path = Path.Combine(_dir, $"tiny-{type}-{Guid.NewGuid():N}.gguf");
        TinyGguf.WriteModel(tiny, path, type);
        return path;
    }

    [Theory]
    [InlineData(2, false)] // GQA: 4 query heads over 2 kv heads
    [InlineData(4, false)] // MHA
    [InlineData(1, true)]  // MQA with tied embeddings (no output.weight)
    public void F32Model_F32Cache_MatchesTorchSharpAtEveryPosition(int nKvHeads, bool tied)
    {
        var tiny = new TinyLlama(TinyLlama.DefaultConfig(nKvHeads, tied: tied));
        string path = Write(tiny);
        int[] ids = Prompt(23, tiny.Config.VocabSize);
        using var model = GgmlLlamaModel.Load(path);
        Assert.Equal(tied, model.Config.TiedEmbeddings);
        using var session = new LlamaSession(model, cacheType: GgmlType.F32);
        float[] ours = session.Evaluate(ids, allLogits: true);
        using var reference = tiny.Build();
        double diff = MaxAbsDiff(TorchLogits(reference, ids), ours);
        output.WriteLine($"max |ggml − torch| = {diff:E3} (kv={nKvHeads}, tied={tied})");
        Assert.True(diff <= 1e-4, $"max abs logit difference {diff:E3} > 1e-4");
        Assert.Equal(ids.Length, session.Position);
    }

    [Fact]
    public void LinearRopeScaling_MatchesTorchSharp()
    {
        var tiny = new TinyLlama(TinyLlama.DefaultConfig() with { RopeScaling = new RopeScaling(RopeScalingType.Linear, 4.0) });
        string path = Write(tiny);
        int[] ids = Prompt(30, tiny.Config.VocabSize);
        using var model = GgmlLlamaModel.Load(path);
        using var session = new LlamaSession(model, cacheType: GgmlType.F32);
        float[] ours = session.Evaluate(ids, allLogits: true);
        using var reference = tiny.Build();
        double diff = MaxAbsDiff(TorchLogits(reference, ids), ours);
        output.WriteLine($"max |ggml − torch| = {diff:E3} (linear rope ×4)");
        Assert.True(diff <= 1e-4, $"max abs logit difference {diff:E3} > 1e-4");
    }

    [Fact]
    public void F16Cache_IsCloseToTorchSharp()
    {
        // F16 keys/values (and the F16 query/probabilities ggml's mul_mat converts to) round at ~2⁻¹¹ relative.
        var tiny = new TinyLlama(TinyLlama.DefaultConfig());
        string path = Write(tiny);
        int[] ids = Prompt(23, tiny.Config.VocabSize);
        using var model = GgmlLlamaModel.Load(path);
        using var session = new LlamaSession(model);
        float[] ours = session.Evaluate(ids, allLogits: true);
        using var reference = tiny.Build();
        double diff = MaxAbsDiff(TorchLogits(reference, ids), ours);
        output.WriteLine($"max |ggml(F16 cache) − torch| = {diff:E3}");
        Assert.True(diff <= 1e-2, $"max abs logit difference {diff:E3} > 1e-2");
    }

    // F32 cache: the same numbers either way. F16 cache: ggml multiplies a batch and a single row of F16 operands by
    // different kernels (tiled GEMM vs dot products), which round differently at F16's 2⁻¹¹.
    [Theory]
    [InlineData(GgmlType.F32, 1e-5)]
    [InlineData(GgmlType.F16, 2e-3)]
    public void PrefillThenDecode_EqualsFullPrefill(GgmlType cacheType, double tolerance)
    {
        var tiny = new TinyLlama(TinyLlama.DefaultConfig());
        string path = Write(tiny);
        int[] ids = Prompt(20, tiny.Config.VocabSize);
        using var model = GgmlLlamaModel.Load(path);
        using var session = new LlamaSession(model, cacheType: cacheType);
        float[] full = session.Evaluate(ids, allLogits: true);

        session.Reset();
        int vocab = tiny.Config.VocabSize, split = 12;
        var stepwise = new List<float>(session.Evaluate(ids.AsSpan(0, split), allLogits: true));
        for (int i = split; i < ids.Length; i++) stepwise.AddRange(session.Evaluate(ids.AsSpan(i, 1)));
        double diff = MaxAbsDiff(full, stepwise.ToArray());
        output.WriteLine($"max |prefill+decode − prefill| = {diff:E3} ({cacheType} cache)");
        Assert.True(diff <= tolerance, $"{diff:E3} > {tolerance}");

        // Last-token-only logits are the last row of the full ones.
        session.Reset();
        float[] last = session.Evaluate(ids);
        Assert.Equal(vocab, last.Length);
        Assert.True(MaxAbsDiff(full.AsSpan(full.Length - vocab).ToArray(), last) <= 1e-5);
    }

    /// <summary>
    /// A quantized file against TorchSharp running the same file's weights dequantized: what is left is ggml's own
    /// rounding of the activations to the dot-product type (Q8_0 for Q8_0/Q4_0, Q8_K for K-quants, F16/BF16 for
    /// F16/BF16). Measured: F16 2.2e-3, BF16 1.5e-2, Q8_0 5.8e-2, Q4_0 7.1e-2, Q4_K 8.7e-2, Q6_K 8.9e-2 (logits up to
    /// ±3.2; 8-bit activations cost about what 8-bit weights do: the Q8_0 file is 8.3e-2 from the F32 one). A wrong
    /// layout or type moves logits by O(1).
    /// </summary>
    [Theory]
    [InlineData(GgmlType.F16, 64, 5e-3)]
    [InlineData(GgmlType.BF16, 64, 5e-2)]
    [InlineData(GgmlType.Q8_0, 64, 0.1)]
    [InlineData(GgmlType.Q4_0, 64, 0.1)]
    [InlineData(GgmlType.Q4_K, 256, 0.15)]
    [InlineData(GgmlType.Q6_K, 256, 0.15)]
    public void QuantizedModel_MatchesTorchSharpOnItsDequantizedWeights(GgmlType type, int dim, double tolerance)
    {
        // K-quants pack 256-value super-blocks: their rows must be 256 long.
        var tiny = new TinyLlama(TinyLlama.DefaultConfig() with { Dim = dim, FfnDim = dim == 64 ? 96 : 256 });
        var rounded = tiny.With(tiny.Config, (name, v) =>
        {
            if (tiny.Shapes[name].Length == 1) return v;
            long rowLength = tiny.Shapes[name][1], rows = v.Length / rowLength;
            return TinyGguf.Decode(type, TinyGguf.Encode(type, v, rows, rowLength), rows, rowLength);
        });
        int[] ids = Prompt(23, tiny.Config.VocabSize);
        using var model = GgmlLlamaModel.Load(Write(tiny, type));
        using var session = new LlamaSession(model, cacheType: GgmlType.F32);
        float[] ours = session.Evaluate(ids, allLogits: true);
        using var reference = rounded.Build();
        double diff = MaxAbsDiff(TorchLogits(reference, ids), ours);
        output.WriteLine($"max |ggml({type} file) − torch(dequantized)| = {diff:E3}");
        Assert.True(diff <= tolerance, $"{diff:E3} > {tolerance}");
    }

    /// <summary>How far quantization moves the logits of this tiny model (dim 64: two blocks per row), stated.</summary>
    [Theory]
    [InlineData(GgmlType.Q8_0, 0.15)]
    [InlineData(GgmlType.F16, 0.01)]
    public void QuantizedModel_IsCloseToF32(GgmlType type, double tolerance)
    {
        var tiny = new TinyLlama(TinyLlama.DefaultConfig());
        int[] ids = Prompt(23, tiny.Config.VocabSize);
        float[] Run(string p)
        {
            using var m = GgmlLlamaModel.Load(p);
            using var s = new LlamaSession(m, cacheType: GgmlType.F32);
            return s.Evaluate(ids, allLogits: true);
        }
        float[] f32 = Run(Write(tiny));
        float[] quant = Run(Write(tiny, type));
        double diff = MaxAbsDiff(f32, quant);
        double scale = f32.Max(Math.Abs);
        output.WriteLine($"max |{type} − F32| = {diff:E3} (max |logit| {scale:F2})");
        Assert.True(diff <= tolerance, $"{diff:E3} > {tolerance}");
        Assert.True(diff > 0, "the quantized file must actually differ");
    }
}
