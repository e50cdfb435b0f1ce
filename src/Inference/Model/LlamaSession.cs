using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Adapters;
using LlamaAdapter.Inference.Ggml;

namespace LlamaAdapter.Inference.Model;

/// <summary>
/// One sequence over a <see cref="GgmlLlamaModel"/>: a KV cache and the position reached. <see cref="Evaluate"/>
/// appends a batch of tokens at [Position, Position + n) (a whole prompt, or one token while decoding) and returns
/// their logits; the cache keeps their keys and values for the next batch.
/// </summary>
public sealed class LlamaSession : IDisposable
{
    private readonly GgmlLlamaModel _model;
    private readonly GgmlPromptAdapter? _adapter;
    private readonly GgmlLoraAdapter? _lora;
    private readonly KvCache _cache;
    private readonly GgmlGraphAllocator _allocator;

    public int Position { get; private set; }
    public int ContextSize => _cache.Size;
    public LlamaConfig Config => _model.Config;

    /// <param name="contextSize">positions the cache holds; default and maximum: the model's context length.</param>
    /// <param name="cacheType">F16 (as llama.cpp) or F32 (exact; for checks against float32 references).</param>
    /// <param name="lora">a LoRA loaded for <paramref name="model"/>, applied in the graph (not merged); owned by the caller.</param>
    public LlamaSession(GgmlLlamaModel model, GgmlPromptAdapter? adapter = null, int? contextSize = null, GgmlType cacheType = GgmlType.F16,
                        GgmlLoraAdapter? lora = null)
    {
        int size = contextSize ?? model.Config.ContextLength;
        if (size < 1 || size > model.Config.ContextLength)
            throw new ArgumentOutOfRangeException(nameof(contextSize), size, $"expected 1..{model.Config.ContextLength} (the model's context length)");
        if (lora is not null && lora.Model != model)
            throw new ArgumentException($"the LoRA was loaded for {lora.Model.Path}, not for {model.Path}; load it for this model", nameof(lora));
        (_model, _adapter, _lora) = (model, adapter, lora);
        _cache = new KvCache(model, size, cacheType);
        _allocator = GgmlGraphAllocator.ForBackend(model.Backend);
    }

    /// <summary>Forgets the cached positions: the next batch starts at position 0.</summary>
    public void Reset() => Position = 0;

    /// <summary>
    /// Keeps the first <paramref name="position"/> cached positions and forgets the rest: attention only reads cache
    /// columns below the current position, so the next batch simply overwrites what came after. This is how a shared
    /// context is computed once for several continuations.
    /// </summary>
    public void Rewind(int position)
    {
        if (position < 0 || position > Position)
            throw new ArgumentOutOfRangeException(nameof(position), position, $"expected 0..{Position} (the cached positions)");
        Position = position;
    }

    /// <summary>
    /// Runs <paramref name="tokens"/> at positions [Position, Position + n) and advances Position. Returns logits
    /// row-major [n, vocab] when <paramref name="allLogits"/>, else [1, vocab] for the last token only.
    /// </summary>
    public unsafe float[] Evaluate(ReadOnlySpan<int> tokens, bool allLogits = false)
    {
        var cfg = _model.Config;
        int n = tokens.Length;
        if (n == 0) throw new ArgumentException("at least one token is needed", nameof(tokens));
        for (int i = 0; i < n; i++)
            if ((uint)tokens[i] >= (uint)cfg.VocabSize)
                throw new BadInputException($"token {i} is id {tokens[i]}, expected 0..{cfg.VocabSize - 1} (the vocabulary of {_model.Path})");
        if (Position + n > ContextSize)
            throw new BadInputException(
                $"{n} tokens at position {Position} need {Position + n} positions, but the context holds {ContextSize} " +
                $"(model context length {cfg.ContextLength}): shorten the prompt or the generation");

        int nKv = Position + n;
        var (ctx, graph) = GraphContext.Create();
        using (ctx)
        {
            var g = new LlamaGraphBuilder(ctx.DangerousGetHandle(), graph, _model, _cache, _adapter, _lora);
            var (inTokens, inPositions, masks, logits) = g.Build(n, Position, allLogits);
            _allocator.Allocate(graph);

            int[] positions = new int[n];
            for (int i = 0; i < n; i++) positions[i] = Position + i;
            fixed (int* pt = tokens, pp = positions)
            {
                GgmlApi.ggml_backend_tensor_set(inTokens, pt, 0, (nuint)(n * sizeof(int)));
                GgmlApi.ggml_backend_tensor_set(inPositions, pp, 0, (nuint)(n * sizeof(int)));
            }
            foreach (var (mask, prefix) in masks)
            {
                float[] m = CausalMask(n, Position, prefix);
                fixed (float* pm = m) GgmlApi.ggml_backend_tensor_set(mask, pm, 0, (nuint)(m.Length * sizeof(float)));
            }

            int status = GgmlApi.ggml_backend_graph_compute(_model.Backend.DangerousGetHandle(), graph);
            if (status != 0) throw new GgmlException($"ggml_backend_graph_compute failed with status {status}");
            Position = nKv;

            var result = new float[(allLogits ? n : 1) * cfg.VocabSize];
            fixed (float* pr = result) GgmlApi.ggml_backend_tensor_get(logits, pr, 0, (nuint)(result.Length * sizeof(float)));
            return result;
        }
    }

    /// <summary>
    /// Additive mask ne [prefix + p0 + n, n]: token p0+i sees the <paramref name="prefix"/> prompt columns and cache
    /// columns j ≤ p0+i.
    /// </summary>
    private static float[] CausalMask(int n, int p0, int prefix)
    {
        int cols = prefix + p0 + n;
        var m = new float[cols * n];
        for (int i = 0; i < n; i++)
            for (int j = prefix + p0 + i + 1; j < cols; j++) m[i * cols + j] = float.NegativeInfinity;
        return m;
    }

    public void Dispose()
    {
        _allocator.Dispose();
        _cache.Dispose();
    }
}
