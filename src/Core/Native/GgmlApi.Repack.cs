using System.Runtime.InteropServices;

namespace LlamaAdapter.Core.Native;

/// <summary>
/// ggml-backend.h calls for the CPU backend's extra buffer types (CPU_REPACK, AMX...): buffers that re-lay a weight
/// out on upload for interleaved matmul kernels. llama.cpp picks one per weight by asking the device whether the
/// weight's op is supported with the weight in a (zero-sized) buffer of that type; these are the calls it uses.
/// </summary>
internal static unsafe partial class GgmlApi
{
    /// <summary>The CPU registry's "ggml_backend_dev_get_extra_bufts": a NULL-terminated array of buffer types for a device.</summary>
    public const string GetExtraBufferTypesProc = "ggml_backend_dev_get_extra_bufts";

    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_backend_buft_name(IntPtr bufferType);
    /// <summary>The device's pinned host buffer type (CUDA_Host, Vulkan_Host...), or zero when it has none.</summary>
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_backend_dev_host_buffer_type(IntPtr device);
    [LibraryImport(GgmlLibrary.Base)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool ggml_backend_buft_is_host(IntPtr bufferType);
    /// <summary>Size 0 gives a dummy buffer carrying only its type (what the supports_op probe needs).</summary>
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_backend_buft_alloc_buffer(IntPtr bufferType, nuint size);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_backend_buffer_get_type(IntPtr buffer);
    [LibraryImport(GgmlLibrary.Base)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool ggml_backend_dev_supports_op(IntPtr device, IntPtr op);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_backend_alloc_ctx_tensors_from_buft(IntPtr ctx, IntPtr bufferType);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_new_tensor_4d(IntPtr ctx, GgmlType type, long ne0, long ne1, long ne2, long ne3);

    /// <summary>
    /// Byte offset of <c>buffer</c> in <c>struct ggml_tensor</c> (after the 4-byte <c>type</c> and its padding): the
    /// probe sets it on an unallocated tensor as llama.cpp's weight_buft_supported does. Checked by a test against a
    /// tensor ggml allocated itself.
    /// </summary>
    public const int TensorBufferOffset = 8;

    public static IntPtr TensorBuffer(IntPtr tensor) => Marshal.ReadIntPtr(tensor, TensorBufferOffset);

    public static void SetTensorBuffer(IntPtr tensor, IntPtr buffer) => Marshal.WriteIntPtr(tensor, TensorBufferOffset, buffer);
}
