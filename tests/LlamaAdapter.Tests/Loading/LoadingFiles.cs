using System.Globalization;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats.Meta;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Tests.Formats;
using LlamaAdapter.Training.Loading;
using LlamaAdapter.Training.Model;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Loading;

/// <summary>
/// One set of random weights written in every format we load: HF (F32, BF16), GGUF (F32, F16, Q8_0), Meta
/// (torch.save stand-in), plus tied-embedding HF and GGUF. Written once per test class, deleted afterwards.
/// </summary>
public sealed class LoadingFiles : IDisposable
{
    public DirectoryInfo Root { get; } = Directory.CreateTempSubdirectory("llama-load-");
    public TinyLlamaWeights Weights { get; } = TinyLlamaFactory.Create(TinyLlamaFactory.DefaultConfig(), seed: 11);
    public TinyLlamaWeights Tied { get; } = TinyLlamaFactory.Create(TinyLlamaFactory.DefaultConfig(tiedEmbeddings: true), seed: 12);

    public string Hf => P("hf");
    public string HfBf16 => P("hf-bf16");
    public string HfTied => P("hf-tied");
    public string Meta => P("meta");
    public string GgufF32 => P("f32.gguf");
    public string GgufF16 => P("f16.gguf");
    public string GgufQ8 => P("q8_0.gguf");
    public string GgufTied => P("tied.gguf");

    public LoadingFiles()
    {
        TinyLlamaFactory.WriteHuggingFace(Weights, Hf);
        TinyLlamaFactory.WriteHuggingFace(Weights, HfBf16, SafetensorsDType.BF16);
        TinyLlamaFactory.WriteHuggingFace(Tied, HfTied);
        TinyLlamaFactory.WriteGguf(Weights, GgufF32, GgmlType.F32);
        TinyLlamaFactory.WriteGguf(Weights, GgufF16, GgmlType.F16);
        TinyLlamaFactory.WriteGguf(Weights, GgufQ8, GgmlType.Q8_0);
        TinyLlamaFactory.WriteGguf(Tied, GgufTied, GgmlType.F32);
        WriteMeta(Weights, Meta);
    }

    public string P(string name) => Path.Combine(Root.FullName, name);

    /// <summary>params.json whose Meta FFN rule gives the factory's 96 (multiple_of 32, ffn_dim_multiplier 0.5) + consolidated.00.pth.</summary>
    public static void WriteMeta(TinyLlamaWeights w, string dir, IEnumerable<string>? skip = null, int shards = 1)
    {
        var c = w.Config;
        Assert.Equal(c.FfnDim, LlamaConfig.MetaFfnDim(c.Dim, 32, 0.5));
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "params.json"), string.Create(CultureInfo.InvariantCulture,
            $$"""{"dim": {{c.Dim}}, "n_layers": {{c.NLayers}}, "n_heads": {{c.NHeads}}, "n_kv_heads": {{c.NKvHeads}}, "multiple_of": 32, "ffn_dim_multiplier": 0.5, "norm_eps": {{c.NormEps:R}}, "rope_theta": {{c.RopeTheta:R}}, "vocab_size": -1}"""));
        var skipped = skip?.ToHashSet() ?? [];
        for (int s = 0; s < shards; s++)
        {
            var tensors = w.Data.Where(kv => !skipped.Contains(kv.Key)).Select(kv => Shard(kv.Key, kv.Value, w.Shapes[kv.Key], s, shards))
                .Select(t => (t.Name, t.Shape, SafetensorsDType.F32, TinyLlamaFactory.Encode(t.Values, GgmlType.F32)));
            File.WriteAllBytes(Path.Combine(dir, $"consolidated.{s:00}.pth"), MetaFixture.Checkpoint(tensors));
        }
    }

    // Model-parallel rank s of n as Meta saved it: 1-D tensors replicated, 2-D split along MetaCheckpoint.ConcatAxis
    // (tok_embeddings, wo, w2 by columns; the rest by rows), uneven splits allowed.
    private static (string Name, long[] Shape, float[] Values) Shard(string name, float[] v, long[] shape, int s, int n)
    {
        if (n == 1 || shape.Length == 1) return (name, shape, v);
        int axis = MetaCheckpoint.ConcatAxis(name);
        long rows = shape[0], cols = shape[1], size = shape[axis];
        long lo = size * s / n, hi = size * (s + 1) / n;
        var part = new List<float>();
        for (long r = 0; r < rows; r++)
            for (long c = 0; c < cols; c++)
                if ((axis == 0 ? r : c) is var k && k >= lo && k < hi) part.Add(v[r * cols + c]);
        long[] partShape = axis == 0 ? [hi - lo, cols] : [rows, hi - lo];
        return (name, partShape, part.ToArray());
    }

    /// <summary>The ground truth: the factory's weights handed to the model directly (Meta layout, no file in between).</summary>
    public static LlamaModel InMemory(TinyLlamaWeights w, ScalarType dtype = ScalarType.Float32, Func<string, float[], float[]>? transform = null) =>
        new(w.Config, w.Data.ToDictionary(kv => kv.Key, kv => tensor(transform?.Invoke(kv.Key, kv.Value) ?? kv.Value, w.Shapes[kv.Key]).to(dtype)),
            new LlamaModelOptions(RopeLayout.Interleaved, dtype), "in-memory");

    /// <summary>Ids [2, 9] covering both ends of the vocabulary.</summary>
    public static Tensor Ids(int vocab)
    {
        var rng = new Random(5);
        var ids = Enumerable.Range(0, 18).Select(_ => (long)rng.Next(vocab)).ToArray();
        ids[0] = 0;
        ids[^1] = vocab - 1;
        return tensor(ids, [2, 9], ScalarType.Int64);
    }

    public static float MaxAbsDiff(Tensor a, Tensor b) => (a.to(ScalarType.Float32) - b.to(ScalarType.Float32)).abs().max().item<float>();

    public void Dispose()
    {
        try { Root.Delete(recursive: true); } catch (IOException) { }
    }
}
