using System.Runtime.InteropServices;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Inference.Ggml;

/// <summary>ggml_gallocr: places a graph's intermediate tensors in one backend buffer it reuses (and grows) across graphs.</summary>
internal sealed class GgmlGraphAllocator : SafeHandle
{
    private GgmlGraphAllocator() : base(IntPtr.Zero, ownsHandle: true) { }
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle() { GgmlApi.ggml_gallocr_free(handle); return true; }

    public static GgmlGraphAllocator ForBackend(GgmlBackend backend)
    {
        var a = new GgmlGraphAllocator();
        a.SetHandle(GgmlApi.ggml_gallocr_new(GgmlApi.ggml_backend_get_default_buffer_type(backend.DangerousGetHandle())));
        return a.IsInvalid ? throw new GgmlException($"ggml_gallocr_new failed for backend {backend.Name}") : a;
    }

    /// <summary>
    /// Sizes the compute buffer for <paramref name="graph"/> (the largest one expected) up front. Without it the
    /// buffer is reallocated whenever a graph outgrows it (each decode step, as the attended positions grow), and
    /// every fresh buffer costs page faults while it is first written.
    /// </summary>
    public void Reserve(IntPtr graph)
    {
        if (!GgmlApi.ggml_gallocr_reserve(handle, graph))
            throw new GgmlException("ggml_gallocr_reserve could not allocate the compute buffer (out of memory?)");
    }

    public long BufferSize => (long)GgmlApi.ggml_gallocr_get_buffer_size(handle, 0);

    public void Allocate(IntPtr graph)
    {
        if (!GgmlApi.ggml_gallocr_alloc_graph(handle, graph))
            throw new GgmlException("ggml_gallocr_alloc_graph could not allocate the compute buffer (out of memory?)");
    }
}
