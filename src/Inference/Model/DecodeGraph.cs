using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Adapters;
using LlamaAdapter.Inference.Ggml;

namespace LlamaAdapter.Inference.Model;

/// <summary>
/// The single-token step of a <see cref="LlamaSession"/>, built once per <see cref="Padding"/> attended positions and
/// reused in between: a step only sets its inputs (token, position, cache slot, mask) and computes, where it used to
/// build the graph (tens of nodes per layer) and re-place it with the graph allocator every token. The attended
/// length is the position rounded up to a multiple of <see cref="Padding"/> (llama.cpp's KV padding); the mask sets
/// the unused tail to -inf, so its softmax weights are exactly 0 and the step equals the unpadded one.
/// </summary>
internal sealed unsafe class DecodeGraph : IDisposable
{
    public const int Padding = 256;

    private readonly GgmlLlamaModel _model;
    private readonly KvCache _cache;
    private readonly GgmlPromptAdapter? _adapter;
    private readonly GgmlLoraAdapter? _lora;
    // Own metadata arena and executor (allocator or scheduler): prompt batches re-place their graphs in the session's,
    // which would move (or free, when it grows) the buffers this graph's tensors point into.
    private readonly GraphContext _arena = new();
    private readonly IGraphExecutor _executor;
    private GraphContext.Scope? _ctx;
    private IntPtr _graph;
    private DecodeGraphInputs? _inputs;
    private int _nKv;
    private readonly long[] _valueSlots;
    private float[] _mask = [];

    public int Builds { get; private set; }
    public long BufferBytes => _executor.BufferBytes;
    /// <summary>Backend splits of the decode graph: 1 on one backend, more when ggml's scheduler divides it between GPU and CPU.</summary>
    public int Splits => (_executor as GgmlScheduler)?.Splits ?? 1;

    public DecodeGraph(GgmlLlamaModel model, KvCache cache, GgmlPromptAdapter? adapter, GgmlLoraAdapter? lora)
    {
        (_model, _cache, _adapter, _lora) = (model, cache, adapter, lora);
        _valueSlots = new long[model.Config.KvDim];
        _executor = GraphExecutor.For(model);
        // The widest step (the whole cache attended) sizes the compute buffer once, as llama.cpp reserves its worst case.
        try
        {
            var (ctx, graph) = _arena.Begin();
            using (ctx)
            {
                _ = new LlamaGraphBuilder(ctx.Handle, graph, model, cache, adapter, lora).BuildDecode(cache.Size);
                _executor.Reserve(graph);
            }
        }
        catch
        {
            _executor.Dispose();
            _arena.Dispose();
            throw;
        }
    }

    /// <summary>Attended cache length for a token at <paramref name="position"/>: the next multiple of <see cref="Padding"/> above it, at most the cache.</summary>
    public static int PaddedLength(int position, int cacheSize) => Math.Min((position / Padding + 1) * Padding, cacheSize);

    /// <summary>Runs <paramref name="token"/> at <paramref name="position"/> (writing cache slot position) into <paramref name="logits"/> [vocab].</summary>
    public void Run(int token, int position, Span<float> logits)
    {
        int nKv = PaddedLength(position, _cache.Size);
        if (_inputs is null || nKv != _nKv) Rebuild(nKv);
        var inputs = _inputs!;

        long keySlot = position;
        for (int d = 0; d < _valueSlots.Length; d++) _valueSlots[d] = (long)d * _cache.Size + position;
        GgmlApi.ggml_backend_tensor_set(inputs.Tokens, &token, 0, sizeof(int));
        GgmlApi.ggml_backend_tensor_set(inputs.Positions, &position, 0, sizeof(int));
        GgmlApi.ggml_backend_tensor_set(inputs.KeySlot, &keySlot, 0, sizeof(long));
        fixed (long* pv = _valueSlots) GgmlApi.ggml_backend_tensor_set(inputs.ValueSlots, pv, 0, (nuint)(_valueSlots.Length * sizeof(long)));
        foreach (var (input, prefix) in inputs.Masks)
        {
            // ne [prefix + nKv, 1]: the prompt columns and cache slots ≤ position open, the padding after them -inf.
            int cols = prefix + nKv;
            if (_mask.Length != cols) _mask = new float[cols];
            _mask.AsSpan(0, prefix + position + 1).Clear();
            _mask.AsSpan(prefix + position + 1).Fill(float.NegativeInfinity);
            fixed (float* pm = _mask) GgmlApi.ggml_backend_tensor_set(input, pm, 0, (nuint)(cols * sizeof(float)));
        }

        _executor.Compute(_graph);
        fixed (float* pr = logits) GgmlApi.ggml_backend_tensor_get(inputs.Logits, pr, 0, (nuint)(logits.Length * sizeof(float)));
    }

    private void Rebuild(int nKv)
    {
        _ctx?.Dispose();
        (_ctx, _inputs) = (null, null);
        var (ctx, graph) = _arena.Begin();
        try
        {
            _inputs = new LlamaGraphBuilder(ctx.Handle, graph, _model, _cache, _adapter, _lora).BuildDecode(nKv);
            _executor.Allocate(graph);
        }
        catch
        {
            _inputs = null;
            ctx.Dispose();
            throw;
        }
        (_ctx, _graph, _nKv) = (ctx, graph, nKv);
        Builds++;
    }

    public void Dispose()
    {
        _ctx?.Dispose();
        _ctx = null;
        _inputs = null;
        _executor.Dispose();
        _arena.Dispose();
    }
}
