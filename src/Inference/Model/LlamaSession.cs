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
    private readonly IGraphExecutor _executor;
    private readonly GraphContext _graphs = new();
    private readonly DecodeGraph _decode;

    public int Position { get; private set; }
    public int ContextSize => _cache.Size;
    public LlamaConfig Config => _model.Config;
    /// <summary>The decode steps' compute buffer size: reserved once for the largest one.</summary>
    internal long ComputeBufferBytes => _decode.BufferBytes;
    /// <summary>Decode graphs built so far (one per 256 attended positions reached, not one per token).</summary>
    internal int DecodeGraphBuilds => _decode.Builds;
    /// <summary>Backend splits of the current decode graph (more than 1 when layers are offloaded).</summary>
    internal int DecodeGraphSplits => _decode.Splits;

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
        try
        {
            _executor = GraphExecutor.For(model);
            _decode = new DecodeGraph(model, _cache, adapter, lora);
        }
        catch
        {
            _executor?.Dispose();
            _cache.Dispose();
            throw;
        }
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
    public float[] Evaluate(ReadOnlySpan<int> tokens, bool allLogits = false)
    {
        var result = new float[(allLogits ? tokens.Length : 1) * _model.Config.VocabSize];
        Evaluate(tokens, result, allLogits);
        return result;
    }

    /// <summary>
    /// <see cref="Evaluate(ReadOnlySpan{int}, bool)"/> into <paramref name="logits"/> (n·vocab or vocab floats): a decode
    /// loop reusing one buffer spares the GC a fresh large-object array per token, which costs page faults every step.
    /// </summary>
    public unsafe void Evaluate(ReadOnlySpan<int> tokens, Span<float> logits, bool allLogits = false)
    {
        var cfg = _model.Config;
        int n = tokens.Length;
        if (n == 0) throw new ArgumentException("at least one token is needed", nameof(tokens));
        long want = (long)(allLogits ? n : 1) * cfg.VocabSize;
        if (logits.Length != want)
            throw new ArgumentException($"logits holds {logits.Length} floats, expected {want} ({(allLogits ? n : 1)} × vocab {cfg.VocabSize})", nameof(logits));
        for (int i = 0; i < n; i++)
            if ((uint)tokens[i] >= (uint)cfg.VocabSize)
                throw new BadInputException($"token {i} is id {tokens[i]}, expected 0..{cfg.VocabSize - 1} (the vocabulary of {_model.Path})");
        if (Position + n > ContextSize)
            throw new BadInputException(
                $"{n} tokens at position {Position} need {Position + n} positions, but the context holds {ContextSize} " +
                $"(model context length {cfg.ContextLength}): shorten the prompt or the generation");

        int p0 = Position;
        if (n == 1)
        {
            _decode.Run(tokens[0], p0, logits);
            Position = p0 + 1;
            return;
        }
        var positions = new int[n];
        for (int i = 0; i < n; i++) positions[i] = p0 + i;
        Compute(tokens, positions, p0, prefix => CausalMask(n, p0, prefix), logits, allLogits);
        Position = p0 + n;
    }

    /// <summary>
    /// Several independent sequences, each from position 0 (for scoring: one graph keeps the matrix multiplications
    /// wide when each sequence is short). They are laid end to end in the cache; each token attends to the tokens of
    /// its own sequence up to itself (and to an adapter's prompt, which every sequence sees). Returns each sequence's
    /// logits row-major [length, vocab]. The cache then holds no single sequence, so the session is left reset.
    /// </summary>
    public float[][] EvaluateSequences(IReadOnlyList<int[]> sequences)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        if (sequences.Count == 0) throw new ArgumentException("at least one sequence is needed", nameof(sequences));
        var cfg = _model.Config;
        var starts = new int[sequences.Count + 1];
        for (int s = 0; s < sequences.Count; s++)
        {
            if (sequences[s] is not { Length: > 0 } seq) throw new ArgumentException($"sequence {s} is empty", nameof(sequences));
            for (int i = 0; i < seq.Length; i++)
                if ((uint)seq[i] >= (uint)cfg.VocabSize)
                    throw new BadInputException($"sequence {s} token {i} is id {seq[i]}, expected 0..{cfg.VocabSize - 1} (the vocabulary of {_model.Path})");
            starts[s + 1] = starts[s] + seq.Length;
        }
        int n = starts[^1];
        if (n > ContextSize)
            throw new BadInputException($"{sequences.Count} sequences of {n} tokens in all need {n} cache positions, but the context holds {ContextSize}: " +
                                        "evaluate them in smaller groups");

        var tokens = new int[n];
        var positions = new int[n];
        for (int s = 0; s < sequences.Count; s++)
        {
            sequences[s].CopyTo(tokens, starts[s]);
            for (int i = 0; i < sequences[s].Length; i++) positions[starts[s] + i] = i;
        }
        var logits = new float[(long)n * cfg.VocabSize];
        Position = 0;
        Compute(tokens, positions, 0, prefix => BlockCausalMask(starts, prefix), logits, allLogits: true);
        Position = 0;
        var result = new float[sequences.Count][];
        for (int s = 0; s < sequences.Count; s++)
            result[s] = logits.AsSpan(starts[s] * cfg.VocabSize, sequences[s].Length * cfg.VocabSize).ToArray();
        return result;
    }

    /// <summary>One graph over <paramref name="tokens"/> at cache slots [p0, p0 + n), rotated by <paramref name="positions"/>.</summary>
    private unsafe void Compute(ReadOnlySpan<int> tokens, int[] positions, int p0, Func<int, float[]> mask, Span<float> logits, bool allLogits)
    {
        int n = tokens.Length;
        var (ctx, graph) = _graphs.Begin();
        using (ctx)
        {
            var g = new LlamaGraphBuilder(ctx.Handle, graph, _model, _cache, _adapter, _lora);
            var (inTokens, inPositions, masks, output) = g.Build(n, p0, allLogits);
            _executor.Allocate(graph);

            fixed (int* pt = tokens, pp = positions)
            {
                GgmlApi.ggml_backend_tensor_set(inTokens, pt, 0, (nuint)(n * sizeof(int)));
                GgmlApi.ggml_backend_tensor_set(inPositions, pp, 0, (nuint)(n * sizeof(int)));
            }
            foreach (var (input, prefix) in masks)
            {
                float[] m = mask(prefix);
                fixed (float* pm = m) GgmlApi.ggml_backend_tensor_set(input, pm, 0, (nuint)(m.Length * sizeof(float)));
            }

            _executor.Compute(graph);
            fixed (float* pr = logits) GgmlApi.ggml_backend_tensor_get(output, pr, 0, (nuint)(logits.Length * sizeof(float)));
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

    /// <summary>
    /// Additive mask ne [prefix + n, n] for sequences laid end to end (sequence s in slots [starts[s], starts[s+1])):
    /// token t of sequence s sees the prompt columns and the slots of s up to t.
    /// </summary>
    private static float[] BlockCausalMask(int[] starts, int prefix)
    {
        int n = starts[^1], cols = prefix + n;
        var m = new float[(long)cols * n];
        Array.Fill(m, float.NegativeInfinity);
        for (int s = 0; s + 1 < starts.Length; s++)
            for (int t = starts[s]; t < starts[s + 1]; t++)
            {
                m.AsSpan(t * cols, prefix).Clear();
                m.AsSpan(t * cols + prefix + starts[s], t - starts[s] + 1).Clear();
            }
        return m;
    }

    public void Dispose()
    {
        _decode.Dispose();
        _executor.Dispose();
        _graphs.Dispose();
        _cache.Dispose();
    }
}
