using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Ggml;

namespace LlamaAdapter.Inference.Model;

/// <summary>
/// A llama.cpp LLaMA GGUF loaded into one backend buffer, in the file's own types (F32, F16, BF16, Q8_0, Q4_0,
/// K-quants...: ggml computes on them directly). Every tensor is checked against <see cref="Config"/> before ggml
/// sees it. The mapping is released once the bytes are copied.
/// </summary>
public sealed class GgmlLlamaModel : IDisposable
{
    private readonly GgmlContext _context;
    private readonly GgmlBackendBuffer _buffer;

    public LlamaConfig Config { get; }
    public string Path { get; }
    public GgmlBackend Backend { get; }
    public GgmlType EmbeddingType { get; }

    internal IntPtr TokenEmbedding { get; }
    internal IntPtr OutputNorm { get; }
    /// <summary>output.weight, or token_embd.weight when the embeddings are tied (no output.weight in the file).</summary>
    internal IntPtr Output { get; }
    /// <summary>rope_freqs.weight (Llama-3 frequency divisors, [head_dim/2]) or zero.</summary>
    internal IntPtr RopeFactors { get; }
    internal IReadOnlyList<LlamaLayerWeights> Layers { get; }

    private GgmlLlamaModel(string path, LlamaConfig config, GgmlBackend backend, GgmlContext context, GgmlBackendBuffer buffer,
        IntPtr tok, IntPtr norm, IntPtr output, IntPtr ropeFactors, LlamaLayerWeights[] layers, GgmlType embeddingType)
    {
        (Path, Config, Backend, _context, _buffer) = (path, config, backend, context, buffer);
        (TokenEmbedding, OutputNorm, Output, RopeFactors, Layers, EmbeddingType) = (tok, norm, output, ropeFactors, layers, embeddingType);
    }

    /// <summary>Loads <paramref name="path"/> onto the CPU backend using <paramref name="threads"/> threads (default: all cores).</summary>
    public static GgmlLlamaModel Load(string path, int? threads = null)
    {
        var backend = GgmlBackend.Init(GgmlDeviceType.Cpu);
        try
        {
            GgmlThreads.TrySet(backend, threads ?? Environment.ProcessorCount);
            return Load(path, backend);
        }
        catch { backend.Dispose(); throw; }
    }

    /// <summary>Loads onto <paramref name="backend"/>, which the model then owns.</summary>
    public static GgmlLlamaModel Load(string path, GgmlBackend backend)
    {
        using var reader = GgufReader.Open(path);
        var config = LlamaConfig.FromGguf(reader.Metadata);
        bool tied = !reader.TryGetTensor("output.weight", out _);
        config = config with { TiedEmbeddings = tied };
        if (config.RopeScaling is { Type: RopeScalingType.Linear } s && s.Factor <= 0)
            throw new BadInputException($"{path}: metadata 'llama.rope.scaling.factor': expected > 0, found {s.Factor}");

        int n = config.NLayers;
        var context = GgmlContext.CreateNoAlloc(tensors: 9 * n + 8, withGraph: false);
        try
        {
            var load = new GgufTensorLoader(reader, context);
            long dim = config.Dim, kv = config.KvDim, ffn = config.FfnDim, vocab = config.VocabSize;
            IntPtr tok = load.Matrix("token_embd.weight", dim, vocab);
            IntPtr norm = load.Vector("output_norm.weight", dim);
            IntPtr output = tied ? tok : load.Matrix("output.weight", dim, vocab);
            IntPtr ropeFactors = load.OptionalVector("rope_freqs.weight", config.HeadDim / 2) ?? IntPtr.Zero;
            var layers = new LlamaLayerWeights[n];
            for (int i = 0; i < n; i++)
            {
                string p = $"blk.{i}.";
                layers[i] = new LlamaLayerWeights(
                    AttnNorm: load.Vector(p + "attn_norm.weight", dim),
                    Wq: load.Matrix(p + "attn_q.weight", dim, dim),
                    Wk: load.Matrix(p + "attn_k.weight", dim, kv),
                    Wv: load.Matrix(p + "attn_v.weight", dim, kv),
                    Wo: load.Matrix(p + "attn_output.weight", dim, dim),
                    FfnNorm: load.Vector(p + "ffn_norm.weight", dim),
                    FfnGate: load.Matrix(p + "ffn_gate.weight", dim, ffn),
                    FfnUp: load.Matrix(p + "ffn_up.weight", dim, ffn),
                    FfnDown: load.Matrix(p + "ffn_down.weight", ffn, dim));
            }
            var buffer = load.Upload(backend);
            return new GgmlLlamaModel(path, config, backend, context, buffer, tok, norm, output, ropeFactors, layers,
                reader.Tensor("token_embd.weight").Type);
        }
        catch { context.Dispose(); throw; }
    }

    public void Dispose()
    {
        _buffer.Dispose();
        _context.Dispose();
        Backend.Dispose();
    }
}
