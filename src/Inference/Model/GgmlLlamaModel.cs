using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Ggml;

namespace LlamaAdapter.Inference.Model;

/// <summary>
/// A llama.cpp LLaMA GGUF loaded into backend buffers (one CPU buffer; with <see cref="GpuOffload"/> also one on the
/// GPU for the offloaded layers), in the file's own types (F32, F16, BF16, Q8_0, Q4_0,
/// K-quants...: ggml computes on them directly). Every tensor is checked against <see cref="Config"/> before ggml
/// sees it. The mapping is released once the bytes are copied.
/// <para>
/// On the CPU alone, the matmul weights go where libllama puts them: into the CPU backend's extra buffer type
/// (CPU_REPACK) when ggml accepts them there (Q4_0, Q4_K, IQ4_NL... with row counts its interleaved kernels need,
/// e.g. a multiple of 8 for q4_0_8x8), which re-lays them out on upload. Token embeddings (a row gather) stay plain;
/// tied embeddings get a second, repacked copy for the output matmul exactly when libllama makes one
/// (TENSOR_DUPLICATED in another buffer type). With a GPU runtime present (by default) or layers offloaded every
/// weight stays plain, as in libllama (see <see cref="Load(string, GgmlBackend, GpuOffload?, bool?)"/>).
/// </para>
/// </summary>
public sealed class GgmlLlamaModel : IDisposable
{
    private readonly PlacedContexts _tensors;

    public LlamaConfig Config { get; }
    public string Path { get; }
    /// <summary>The CPU backend (the only one unless layers are offloaded).</summary>
    public GgmlBackend Backend => Placement.Cpu;
    /// <summary>The GPU device's name (Vulkan0, CUDA0...) when layers are offloaded, else null.</summary>
    public string? GpuDevice => Placement.IsOffloaded ? Placement.GpuName : null;
    /// <summary>Blocks computed on the GPU (the last ones), 0 when none.</summary>
    public int GpuLayers => Config.NLayers - Placement.FirstGpuLayer;
    internal ModelPlacement Placement { get; }
    public GgmlType EmbeddingType { get; }

    internal IntPtr TokenEmbedding { get; }
    internal IntPtr OutputNorm { get; }
    /// <summary>output.weight, or token_embd.weight when the embeddings are tied (no output.weight in the file).</summary>
    internal IntPtr Output { get; }
    /// <summary>rope_freqs.weight (Llama-3 frequency divisors, [head_dim/2]) or zero.</summary>
    internal IntPtr RopeFactors { get; }
    internal IReadOnlyList<LlamaLayerWeights> Layers { get; }
    /// <summary>The weights held in a CPU extra buffer type, with its name (CPU_REPACK...); empty when none.</summary>
    public IReadOnlyList<(string Name, string BufferType)> ExtraBufferWeights { get; private init; } = [];

    private GgmlLlamaModel(string path, LlamaConfig config, ModelPlacement placement, PlacedContexts tensors,
        IntPtr tok, IntPtr norm, IntPtr output, IntPtr ropeFactors, LlamaLayerWeights[] layers, GgmlType embeddingType)
    {
        (Path, Config, Placement, _tensors) = (path, config, placement, tensors);
        (TokenEmbedding, OutputNorm, Output, RopeFactors, Layers, EmbeddingType) = (tok, norm, output, ropeFactors, layers, embeddingType);
    }

    /// <summary>
    /// Loads <paramref name="path"/> onto the CPU backend using <paramref name="threads"/> threads (default: all cores),
    /// with the last <paramref name="gpu"/>.Layers blocks on a GPU when asked.
    /// </summary>
    /// <param name="repack">see <see cref="Load(string, GgmlBackend, GpuOffload?, bool?)"/>.</param>
    public static GgmlLlamaModel Load(string path, int? threads = null, GpuOffload? gpu = null, bool? repack = null)
    {
        (gpu ?? GpuOffload.None).Validate();
        var backend = GgmlBackend.Init(GgmlDeviceType.Cpu);
        try
        {
            GgmlThreads.TrySet(backend, threads ?? Environment.ProcessorCount);
            return Load(path, backend, gpu, repack);
        }
        catch { backend.Dispose(); throw; }
    }

    /// <summary>Loads onto the CPU <paramref name="backend"/>, which the model then owns (with the GPU it starts for <paramref name="gpu"/>).</summary>
    /// <param name="repack">
    /// CPU extra buffer types (CPU_REPACK) for the matmul weights. null (default): as libllama by default, i.e. unless
    /// ggml's registry holds a GPU with a host buffer type (<see cref="CpuWeightBufferTypes.GpuHostBufferTypeFirst"/>;
    /// then libllama keeps even a --gpu-layers 0 model plain). true: also then (libllama's --no-host); false: never
    /// (--no-repack). Only without offload: under the scheduler a repacked weight would be safe (its buffer is not host
    /// memory, so ggml never offloads its matmul to the GPU, and only the CPU backend accepts its buffer type), but
    /// with a GPU in use libllama's CPU-resident layers are plain, and so are ours.
    /// </param>
    public static GgmlLlamaModel Load(string path, GgmlBackend backend, GpuOffload? gpu = null, bool? repack = null)
    {
        (gpu ?? GpuOffload.None).Validate();
        using var reader = GgufReader.Open(path);
        var config = LlamaConfig.FromGguf(reader.Metadata);
        bool tied = !reader.TryGetTensor("output.weight", out _);
        config = config with { TiedEmbeddings = tied };
        if (config.RopeScaling is { Type: RopeScalingType.Linear } s && s.Factor <= 0)
            throw new BadInputException($"{path}: metadata 'llama.rope.scaling.factor': expected > 0, found {s.Factor}");

        int n = config.NLayers;
        var placement = ModelPlacement.Create(backend, n, gpu ?? GpuOffload.None);
        PlacedContexts? contexts = null;
        try
        {
            contexts = new PlacedContexts(placement, tensors: 9 * n + 8);
            bool useExtra = !placement.IsOffloaded && (repack ?? !CpuWeightBufferTypes.GpuHostBufferTypeFirst());
            var extra = useExtra ? CpuWeightBufferTypes.Of(backend) : CpuWeightBufferTypes.None;
            var load = new GgufTensorLoader(reader, contexts, extra);
            long dim = config.Dim, kv = config.KvDim, ffn = config.FfnDim, vocab = config.VocabSize;
            const int embd = ModelPlacement.Embeddings, outp = ModelPlacement.Output;
            IntPtr tok = load.Matrix("token_embd.weight", dim, vocab, embd);
            IntPtr norm = load.Vector("output_norm.weight", dim, outp);
            // Tied: the output reads its own copy when it lives in another buffer (on the GPU, or repacked for the
            // matmul while the gather needs plain rows), as llama.cpp duplicates it; else it shares the embeddings.
            IntPtr output = tied && !placement.OutputOnGpu && !load.WouldUseExtraBuffer("token_embd.weight", dim, vocab, outp)
                ? tok
                : load.MatMulWeight(tied ? "token_embd.weight" : "output.weight", dim, vocab, outp);
            // Read by every block's rope; a few floats, which the scheduler copies to the GPU's splits.
            IntPtr ropeFactors = load.OptionalVector("rope_freqs.weight", config.HeadDim / 2, embd) ?? IntPtr.Zero;
            var layers = new LlamaLayerWeights[n];
            for (int i = 0; i < n; i++)
            {
                string p = $"blk.{i}.";
                layers[i] = new LlamaLayerWeights(
                    AttnNorm: load.Vector(p + "attn_norm.weight", dim, i),
                    Wq: load.MatMulWeight(p + "attn_q.weight", dim, dim, i),
                    Wk: load.MatMulWeight(p + "attn_k.weight", dim, kv, i),
                    Wv: load.MatMulWeight(p + "attn_v.weight", dim, kv, i),
                    Wo: load.MatMulWeight(p + "attn_output.weight", dim, dim, i),
                    FfnNorm: load.Vector(p + "ffn_norm.weight", dim, i),
                    FfnGate: load.MatMulWeight(p + "ffn_gate.weight", dim, ffn, i),
                    FfnUp: load.MatMulWeight(p + "ffn_up.weight", dim, ffn, i),
                    FfnDown: load.MatMulWeight(p + "ffn_down.weight", ffn, dim, i));
            }
            load.Upload(placement.IsOffloaded ? $"the weights of {path} placed there" : "the weights");
            return new GgmlLlamaModel(path, config, placement, contexts, tok, norm, output, ropeFactors, layers,
                reader.Tensor("token_embd.weight").Type) { ExtraBufferWeights = [.. load.ExtraBufferWeights] };
        }
        catch
        {
            contexts?.Dispose();
            if (placement.IsOffloaded) placement.Gpu!.Dispose(); // the CPU backend stays the caller's on failure
            throw;
        }
    }

    public void Dispose()
    {
        _tensors.Dispose();
        Placement.Dispose();
    }
}
