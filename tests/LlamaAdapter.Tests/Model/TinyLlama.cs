using LlamaAdapter.Core.Config;
using LlamaAdapter.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Model;

/// <summary>
/// A tiny random LLaMA as plain float arrays (Meta names), so the TorchSharp model and the double-loop reference read
/// the very same numbers. Linear weights ~ U(±√(3/fan_in)) keep activations O(1); norms 1 ± 0.2.
/// </summary>
internal sealed class TinyLlama
{
    public LlamaConfig Config { get; }
    public Dictionary<string, float[]> Data { get; } = new();
    public Dictionary<string, long[]> Shapes { get; } = new();

    public static LlamaConfig DefaultConfig(int nKvHeads = 2, RopeScaling? scaling = null, bool tied = false) =>
        new(Dim: 64, NLayers: 3, NHeads: 4, NKvHeads: nKvHeads, FfnDim: 96, VocabSize: 97,
            RopeTheta: 10000, RopeScaling: scaling, NormEps: 1e-5, ContextLength: 64, TiedEmbeddings: tied);

    public TinyLlama(LlamaConfig config, int seed = 1)
    {
        Config = config;
        var rng = new Random(seed);
        foreach (var (name, shape) in WeightSource.ExpectedTensors(config))
        {
            long n = shape.Aggregate(1L, (a, b) => a * b);
            var v = new float[n];
            if (shape.Length == 1)
                for (int i = 0; i < n; i++) v[i] = (float)(1 + 0.4 * (rng.NextDouble() - 0.5));
            else
            {
                double bound = name == "tok_embeddings.weight" ? 1.0 : Math.Sqrt(3.0 / shape[1]);
                for (int i = 0; i < n; i++) v[i] = (float)(bound * (2 * rng.NextDouble() - 1));
            }
            Data[name] = v;
            Shapes[name] = shape;
        }
    }

    private TinyLlama(LlamaConfig config, Dictionary<string, float[]> data, Dictionary<string, long[]> shapes)
    {
        Config = config;
        Data = data;
        Shapes = shapes;
    }

    public TinyLlama With(LlamaConfig config, Func<string, float[], float[]> transform) =>
        new(config, Data.ToDictionary(kv => kv.Key, kv => transform(kv.Key, kv.Value)),
            WeightSource.ExpectedTensors(config).ToDictionary(e => e.Name, e => e.Shape));

    public Dictionary<string, Tensor> Tensors(ScalarType dtype = ScalarType.Float32) =>
        Data.ToDictionary(kv => kv.Key, kv => tensor(kv.Value, Shapes[kv.Key]).to(dtype));

    public LlamaModel Build(RopeLayout layout = RopeLayout.Interleaved, ScalarType dtype = ScalarType.Float32) =>
        new(Config, Tensors(dtype), new LlamaModelOptions(layout, dtype), "tiny");

    /// <summary>Deterministic ids [B, T] covering the vocabulary edges.</summary>
    public static long[,] Ids(int b = 2, int t = 9, int vocab = 97, int seed = 7)
    {
        var rng = new Random(seed);
        var ids = new long[b, t];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < t; j++) ids[i, j] = rng.Next(vocab);
        ids[0, 0] = 0;
        ids[b - 1, t - 1] = vocab - 1;
        return ids;
    }

    public static Tensor IdsTensor(long[,] ids) =>
        tensor(ids.Cast<long>().ToArray(), [ids.GetLength(0), ids.GetLength(1)], ScalarType.Int64);

    /// <summary>HF convert_llama_weights_to_hf.py permute: Meta row h·d + 2i + c → HF row h·d + c·d/2 + i.</summary>
    public static float[] PermuteToHalfSplit(float[] w, int nHeads, int rows, int cols)
    {
        int d = rows / nHeads;
        var o = new float[w.Length];
        for (int h = 0; h < nHeads; h++)
            for (int i = 0; i < d / 2; i++)
                for (int c = 0; c < 2; c++)
                    Array.Copy(w, (long)(h * d + 2 * i + c) * cols, o, (long)(h * d + c * d / 2 + i) * cols, cols);
        return o;
    }
}
