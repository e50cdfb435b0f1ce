using System.Runtime.InteropServices;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Inference.Ggml;

/// <summary>
/// Metadata memory for one graph of up to <see cref="MaxNodes"/> nodes and its tensors, allocated once and reused by
/// every graph built in it (one per evaluated batch): a fresh multi-megabyte ggml context per decode step would be
/// mapped, faulted in and unmapped again each token.
/// </summary>
internal sealed unsafe class GraphContext : IDisposable
{
    public const int MaxNodes = 16384;

    private readonly nuint _size;
    private void* _memory;

    public GraphContext()
    {
        nuint graphBytes = GgmlApi.ggml_graph_overhead_custom(MaxNodes, false);
        _size = (nuint)MaxNodes * GgmlApi.ggml_tensor_overhead() + graphBytes;
        _memory = NativeMemory.AlignedAlloc(_size, 64);
    }

    /// <summary>A ggml context over the reused memory and an empty graph in it; dispose the context before the next <see cref="Begin"/>.</summary>
    public (Scope Context, IntPtr Graph) Begin()
    {
        ObjectDisposedException.ThrowIf(_memory == null, this);
        IntPtr ctx = GgmlApi.ggml_init(new GgmlInitParams { MemSize = _size, MemBuffer = (IntPtr)_memory, NoAlloc = 1 });
        if (ctx == IntPtr.Zero) throw new GgmlException($"ggml_init failed over a {_size}-byte graph arena");
        IntPtr graph = GgmlApi.ggml_new_graph_custom(ctx, MaxNodes, false);
        if (graph == IntPtr.Zero) { GgmlApi.ggml_free(ctx); throw new GgmlException("ggml_new_graph_custom failed"); }
        return (new Scope(ctx), graph);
    }

    /// <summary>Frees the ggml context (not the memory it was given).</summary>
    public readonly struct Scope(IntPtr handle) : IDisposable
    {
        public IntPtr Handle => handle;
        public void Dispose() => GgmlApi.ggml_free(handle);
    }

    public void Dispose()
    {
        if (_memory == null) return;
        NativeMemory.AlignedFree(_memory);
        _memory = null;
    }
}
