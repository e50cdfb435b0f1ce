using System.Runtime.InteropServices;

namespace LlamaAdapter.Core.Native;

/// <summary>
/// ggml-backend.h calls for running one model over several devices: a device's own backend and free memory, and the
/// scheduler that splits a graph between backends (signature of ggml_backend_sched_new as exported by our
/// libggml-base: backends, buffer types, count, graph size, parallel, op_offload).
/// </summary>
internal static unsafe partial class GgmlApi
{
    [LibraryImport(GgmlLibrary.Base, StringMarshalling = StringMarshalling.Utf8)]
    public static partial IntPtr ggml_backend_dev_init(IntPtr device, string? parameters);
    [LibraryImport(GgmlLibrary.Base)] public static partial void ggml_backend_dev_memory(IntPtr device, out nuint free, out nuint total);
    /// <summary>usage 1 = GGML_BACKEND_BUFFER_USAGE_WEIGHTS: the scheduler runs an op where its weights are.</summary>
    [LibraryImport(GgmlLibrary.Base)] public static partial void ggml_backend_buffer_set_usage(IntPtr buffer, int usage);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_get_first_tensor(IntPtr ctx);
    [LibraryImport(GgmlLibrary.Base)] public static partial nuint ggml_backend_alloc_ctx_tensors_from_buft_size(IntPtr ctx, IntPtr bufferType);

    [LibraryImport(GgmlLibrary.Base)]
    public static partial IntPtr ggml_backend_sched_new(IntPtr* backends, IntPtr* bufferTypes, int nBackends, nuint graphSize,
        [MarshalAs(UnmanagedType.U1)] bool parallel, [MarshalAs(UnmanagedType.U1)] bool opOffload);
    [LibraryImport(GgmlLibrary.Base)] public static partial void ggml_backend_sched_free(IntPtr sched);
    [LibraryImport(GgmlLibrary.Base)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool ggml_backend_sched_reserve(IntPtr sched, IntPtr graph);
    /// <summary>Per-backend compute buffer sizes <paramref name="graph"/> would need, without allocating them.</summary>
    [LibraryImport(GgmlLibrary.Base)] public static partial void ggml_backend_sched_reserve_size(IntPtr sched, IntPtr graph, nuint* sizes);
    [LibraryImport(GgmlLibrary.Base)] public static partial void ggml_backend_sched_reset(IntPtr sched);
    [LibraryImport(GgmlLibrary.Base)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool ggml_backend_sched_alloc_graph(IntPtr sched, IntPtr graph);
    [LibraryImport(GgmlLibrary.Base)] public static partial int ggml_backend_sched_graph_compute(IntPtr sched, IntPtr graph);
    [LibraryImport(GgmlLibrary.Base)] public static partial nuint ggml_backend_sched_get_buffer_size(IntPtr sched, IntPtr backend);
    [LibraryImport(GgmlLibrary.Base)] public static partial int ggml_backend_sched_get_n_splits(IntPtr sched);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_backend_sched_get_tensor_backend(IntPtr sched, IntPtr tensor);
}
