using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Inference.Bench;

/// <summary>
/// llama.cpp itself (libllama, CPU only) over a GGUF file: one context with one sequence, driven token batch by token
/// batch like <see cref="Model.LlamaSession"/>, so the two engines can be timed on the same file with the same settings.
/// </summary>
public sealed unsafe class LlamaCppContext : IDisposable
{
    private static readonly Lock Gate = new();

    private readonly LlamaModelHandle _model;
    private readonly LlamaContextHandle _context;
    private readonly IntPtr _memory;

    public int ContextSize { get; }
    public int BatchSize { get; }
    public int Threads { get; }
    public int VocabSize { get; }
    public int Position { get; private set; }

    private LlamaCppContext(LlamaModelHandle model, LlamaContextHandle context, int contextSize, int batchSize, int threads)
    {
        (_model, _context, ContextSize, BatchSize, Threads) = (model, context, contextSize, batchSize, threads);
        _memory = LlamaApi.llama_get_memory(context.DangerousGetHandle());
        VocabSize = LlamaApi.llama_vocab_n_tokens(LlamaApi.llama_model_get_vocab(model.DangerousGetHandle()));
    }

    /// <param name="contextSize">KV cache positions; libllama rounds up to a multiple of 256, which this asks for directly.</param>
    /// <param name="batchSize">n_batch = n_ubatch: the most tokens one graph takes (a prompt up to this is one graph, as ours).</param>
    /// <param name="cacheType">type_k = type_v (F16 is llama.cpp's default).</param>
    /// <param name="flashAttention">false: the mul_mat + soft_max path (ours); true: ggml_flash_attn_ext.</param>
    public static LlamaCppContext Open(string path, int threads, int contextSize, int batchSize, GgmlType cacheType, bool flashAttention)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(contextSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        string full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new BadInputException($"{full}: GGUF file not found");
        LlamaLog.EnsureInitialized();
        lock (Gate)
        {
            LlamaLog.BeginCapture();
            var mp = LlamaApi.DefaultModelParams();
            mp.NGpuLayers = 0;
            IntPtr model = LlamaApi.llama_model_load_from_file(full, mp);
            if (model == IntPtr.Zero) throw new BadInputException($"{full}: libllama could not load the model: {LlamaLog.CapturedErrors()}");
            var modelHandle = new LlamaModelHandle(model);
            try
            {
                var cp = LlamaApi.DefaultContextParams();
                int size = (contextSize + 255) / 256 * 256;
                cp.NCtx = (uint)size;
                cp.NBatch = cp.NUbatch = (uint)batchSize;
                cp.TypeK = cp.TypeV = cacheType;
                cp.FlashAttnType = flashAttention ? 1 : 0;
                IntPtr ctx = LlamaApi.llama_init_from_model(model, cp);
                if (ctx == IntPtr.Zero) throw new BadInputException($"{full}: libllama could not create a context of {size} positions: {LlamaLog.CapturedErrors()}");
                var ctxHandle = new LlamaContextHandle(ctx);
                LlamaApi.llama_set_n_threads(ctx, threads, threads);
                if (LlamaApi.llama_n_threads(ctx) != threads || LlamaApi.llama_n_threads_batch(ctx) != threads)
                {
                    ctxHandle.Dispose();
                    throw new GgmlException($"libllama kept {LlamaApi.llama_n_threads(ctx)}/{LlamaApi.llama_n_threads_batch(ctx)} threads, asked for {threads}");
                }
                return new LlamaCppContext(modelHandle, ctxHandle, size, batchSize, threads);
            }
            catch { modelHandle.Dispose(); throw; }
        }
    }

    /// <summary>Empties the KV cache: the next batch starts at position 0.</summary>
    public void Reset()
    {
        LlamaApi.llama_memory_clear(_memory, false);
        Position = 0;
    }

    /// <summary>Decodes <paramref name="tokens"/> at [Position, Position + n) and waits for it; logits are computed for the last token only.</summary>
    public void Decode(ReadOnlySpan<int> tokens)
    {
        if (tokens.Length == 0 || tokens.Length > BatchSize)
            throw new ArgumentException($"{tokens.Length} tokens: expected 1..{BatchSize} (n_batch)", nameof(tokens));
        if (Position + tokens.Length > ContextSize)
            throw new ArgumentException($"{tokens.Length} tokens at position {Position} overflow the context of {ContextSize}", nameof(tokens));
        IntPtr ctx = _context.DangerousGetHandle();
        int rc;
        LlamaLog.BeginCapture();
        fixed (int* p = tokens) rc = LlamaApi.llama_decode(ctx, LlamaApi.llama_batch_get_one(p, tokens.Length));
        if (rc != 0) throw new GgmlException($"llama_decode returned {rc} for {tokens.Length} tokens at position {Position}: {LlamaLog.CapturedErrors()}");
        LlamaApi.llama_synchronize(ctx);
        Position += tokens.Length;
    }

    /// <summary>The last token's logits of the last <see cref="Decode"/>.</summary>
    public float[] LastLogits()
    {
        float* p = LlamaApi.llama_get_logits_ith(_context.DangerousGetHandle(), -1);
        if (p == null) throw new GgmlException("libllama has no logits (nothing decoded yet)");
        return new ReadOnlySpan<float>(p, VocabSize).ToArray();
    }

    public void Dispose()
    {
        _context.Dispose();
        _model.Dispose();
    }
}
