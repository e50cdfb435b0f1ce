using System.Runtime.InteropServices;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Model;

namespace LlamaAdapter.Inference.Ggml;

/// <summary>
/// ggml_backend_sched over [GPU, CPU]: each op runs on the backend holding its weights (or its pre-allocated
/// destination, such as a KV cache slot), the graph is split where the backend changes, and the tensors crossing a
/// split are copied. The CPU must come last (ggml's rule: graph inputs start there). Owns one compute buffer per backend.
/// </summary>
internal sealed unsafe class GgmlScheduler : SafeHandle, IGraphExecutor
{
    private GgmlBackend[] _backends = [];
    private ModelPlacement? _placement;

    private GgmlScheduler() : base(IntPtr.Zero, ownsHandle: true) { }
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle() { GgmlApi.ggml_backend_sched_free(handle); return true; }

    public static GgmlScheduler Create(ModelPlacement placement)
    {
        GgmlBackend gpu = placement.Gpu!, cpu = placement.Cpu;
        var s = new GgmlScheduler { _backends = [gpu, cpu], _placement = placement };
        IntPtr* backends = stackalloc IntPtr[] { gpu.DangerousGetHandle(), cpu.DangerousGetHandle() };
        // Default buffer types; not parallel (no pipelining); op_offload as llama.cpp's default: a large batch's matmul
        // on a CPU-held weight may run on the GPU (the weight is copied over), which the backend decides per op.
        s.SetHandle(GgmlApi.ggml_backend_sched_new(backends, null, 2, (nuint)GraphContext.MaxNodes, false, true));
        return s.IsInvalid ? throw new GgmlException($"ggml_backend_sched_new failed for [{gpu.Name}, {cpu.Name}]") : s;
    }

    /// <summary>Checks the GPU's share against the device's free memory (a clear error, not an allocation failure inside the backend), then reserves.</summary>
    public void Reserve(IntPtr graph)
    {
        nuint* sizes = stackalloc nuint[2];
        GgmlApi.ggml_backend_sched_reserve_size(handle, graph, sizes);
        long need = (long)sizes[0], free = _placement!.GpuFreeBytes();
        if (need > free)
            throw new BadInputException(
                $"--gpu-layers {_placement.GpuLayers}: the compute buffer of a decode step needs {need / 1048576.0:F1} MiB on {_placement.GpuName}, " +
                $"which has {free / 1048576.0:F1} MiB free after the weights and KV cache: offload fewer layers or use a smaller context");
        if (!GgmlApi.ggml_backend_sched_reserve(handle, graph))
            throw new GgmlException($"ggml_backend_sched_reserve could not allocate the compute buffers on [{string.Join(", ", _backends.Select(b => b.Name))}] (out of memory?)");
    }

    public void Allocate(IntPtr graph)
    {
        GgmlApi.ggml_backend_sched_reset(handle);
        if (!GgmlApi.ggml_backend_sched_alloc_graph(handle, graph))
            throw new GgmlException("ggml_backend_sched_alloc_graph could not allocate the compute buffers (out of memory?)");
    }

    public void Compute(IntPtr graph)
    {
        int status = GgmlApi.ggml_backend_sched_graph_compute(handle, graph);
        if (status != 0) throw new GgmlException($"ggml_backend_sched_graph_compute failed with status {status}");
    }

    public long BufferBytes => _backends.Sum(b => (long)GgmlApi.ggml_backend_sched_get_buffer_size(handle, b.DangerousGetHandle()));

    /// <summary>Graph splits of the last placed graph (1 when everything ran on one backend).</summary>
    public int Splits => GgmlApi.ggml_backend_sched_get_n_splits(handle);
}
