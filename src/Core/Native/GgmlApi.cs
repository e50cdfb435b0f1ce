using System.Runtime.InteropServices;

namespace LlamaAdapter.Core.Native;

/// <summary>struct ggml_init_params, passed by value to ggml_init.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct GgmlInitParams
{
    public nuint MemSize;
    public IntPtr MemBuffer;
    public byte NoAlloc; // C bool
}

/// <summary>Declarations of ggml.h / ggml-alloc.h / ggml-backend.h functions exported by libggml-base.</summary>
internal static unsafe partial class GgmlApi
{
    static GgmlApi() => GgmlLibrary.EnsureResolver();

    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_init(GgmlInitParams p);
    [LibraryImport(GgmlLibrary.Base)] public static partial void ggml_free(IntPtr ctx);
    [LibraryImport(GgmlLibrary.Base)] public static partial nuint ggml_tensor_overhead();
    [LibraryImport(GgmlLibrary.Base)] public static partial nuint ggml_graph_overhead();
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_new_tensor_2d(IntPtr ctx, GgmlType type, long ne0, long ne1);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_mul_mat(IntPtr ctx, IntPtr a, IntPtr b);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_new_graph(IntPtr ctx);
    [LibraryImport(GgmlLibrary.Base)] public static partial void ggml_build_forward_expand(IntPtr graph, IntPtr tensor);
    [LibraryImport(GgmlLibrary.Base)] public static partial nuint ggml_nbytes(IntPtr tensor);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_type_name(GgmlType type);

    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_backend_alloc_ctx_tensors(IntPtr ctx, IntPtr backend);
    [LibraryImport(GgmlLibrary.Base)] public static partial void ggml_backend_buffer_free(IntPtr buffer);
    [LibraryImport(GgmlLibrary.Base)] public static partial void ggml_backend_tensor_set(IntPtr tensor, void* data, nuint offset, nuint size);
    [LibraryImport(GgmlLibrary.Base)] public static partial void ggml_backend_tensor_get(IntPtr tensor, void* data, nuint offset, nuint size);
    [LibraryImport(GgmlLibrary.Base)] public static partial int ggml_backend_graph_compute(IntPtr backend, IntPtr graph);
    [LibraryImport(GgmlLibrary.Base)] public static partial void ggml_backend_free(IntPtr backend);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_backend_name(IntPtr backend);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_backend_dev_name(IntPtr device);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_backend_dev_description(IntPtr device);
    [LibraryImport(GgmlLibrary.Base)] public static partial GgmlDeviceType ggml_backend_dev_type(IntPtr device);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_backend_get_device(IntPtr backend);
    [LibraryImport(GgmlLibrary.Base)]
    public static partial void ggml_log_set(delegate* unmanaged[Cdecl]<GgmlLogLevel, byte*, IntPtr, void> callback, IntPtr userData);
}

/// <summary>The backend registry (ggml-backend-reg), exported by libggml.</summary>
internal static partial class GgmlBackendApi
{
    static GgmlBackendApi() => GgmlLibrary.EnsureResolver();

    [LibraryImport(GgmlLibrary.Registry, StringMarshalling = StringMarshalling.Utf8)]
    public static partial void ggml_backend_load_all_from_path(string dir);
    [LibraryImport(GgmlLibrary.Registry)] public static partial nuint ggml_backend_dev_count();
    [LibraryImport(GgmlLibrary.Registry)] public static partial IntPtr ggml_backend_dev_get(nuint index);
    [LibraryImport(GgmlLibrary.Registry)] public static partial nuint ggml_backend_reg_count();
    [LibraryImport(GgmlLibrary.Registry, StringMarshalling = StringMarshalling.Utf8)]
    public static partial IntPtr ggml_backend_init_by_type(GgmlDeviceType type, string? parameters);
}
