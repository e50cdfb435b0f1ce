using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

// The ggml engine (src/Inference) builds graphs through these declarations.
[assembly: InternalsVisibleTo("LlamaAdapter.Inference")]

namespace LlamaAdapter.Core.Native;

/// <summary>
/// The ggml.h graph operators, ggml-alloc.h graph allocator and ggml-backend.h calls the inference engine builds
/// a LLaMA forward pass from. Tensors are <c>struct ggml_tensor*</c> as IntPtr; ggml aborts the process on a bad
/// shape, so callers validate before calling.
/// </summary>
internal static unsafe partial class GgmlApi
{
    // Tensors and graphs.
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_new_tensor_1d(IntPtr ctx, GgmlType type, long ne0);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_new_tensor_3d(IntPtr ctx, GgmlType type, long ne0, long ne1, long ne2);
    [LibraryImport(GgmlLibrary.Base, StringMarshalling = StringMarshalling.Utf8)]
    public static partial IntPtr ggml_set_name(IntPtr tensor, string name);
    [LibraryImport(GgmlLibrary.Base)] public static partial void ggml_set_input(IntPtr tensor);
    [LibraryImport(GgmlLibrary.Base)] public static partial void ggml_set_output(IntPtr tensor);
    [LibraryImport(GgmlLibrary.Base)] public static partial nuint ggml_graph_overhead_custom(nuint size, [MarshalAs(UnmanagedType.U1)] bool grads);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_new_graph_custom(IntPtr ctx, nuint size, [MarshalAs(UnmanagedType.U1)] bool grads);

    // Operators (ggml.h).
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_get_rows(IntPtr ctx, IntPtr a, IntPtr rows);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_rms_norm(IntPtr ctx, IntPtr a, float eps);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_mul(IntPtr ctx, IntPtr a, IntPtr b);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_add(IntPtr ctx, IntPtr a, IntPtr b);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_silu(IntPtr ctx, IntPtr a);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_concat(IntPtr ctx, IntPtr a, IntPtr b, int dim);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_reshape_2d(IntPtr ctx, IntPtr a, long ne0, long ne1);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_reshape_3d(IntPtr ctx, IntPtr a, long ne0, long ne1, long ne2);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_view_1d(IntPtr ctx, IntPtr a, long ne0, nuint offset);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_view_2d(IntPtr ctx, IntPtr a, long ne0, long ne1, nuint nb1, nuint offset);
    [LibraryImport(GgmlLibrary.Base)]
    public static partial IntPtr ggml_view_3d(IntPtr ctx, IntPtr a, long ne0, long ne1, long ne2, nuint nb1, nuint nb2, nuint offset);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_permute(IntPtr ctx, IntPtr a, int axis0, int axis1, int axis2, int axis3);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_transpose(IntPtr ctx, IntPtr a);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_cont(IntPtr ctx, IntPtr a);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_cpy(IntPtr ctx, IntPtr a, IntPtr b);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_soft_max_ext(IntPtr ctx, IntPtr a, IntPtr mask, float scale, float maxBias);

    /// <summary>
    /// Rotary embedding. b: I32 positions [ne2 of a]; c: optional F32 frequency divisors (Llama-3 rope_freqs);
    /// mode 0 rotates adjacent pairs (2i, 2i+1), the Meta/GGUF layout.
    /// </summary>
    [LibraryImport(GgmlLibrary.Base)]
    public static partial IntPtr ggml_rope_ext(IntPtr ctx, IntPtr a, IntPtr b, IntPtr c, int nDims, int mode, int nCtxOrig,
        float freqBase, float freqScale, float extFactor, float attnFactor, float betaFast, float betaSlow);

    // Graph allocation (ggml-alloc.h) and backends (ggml-backend.h).
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_backend_get_default_buffer_type(IntPtr backend);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_gallocr_new(IntPtr bufferType);
    [LibraryImport(GgmlLibrary.Base)] public static partial void ggml_gallocr_free(IntPtr galloc);
    [LibraryImport(GgmlLibrary.Base)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool ggml_gallocr_alloc_graph(IntPtr galloc, IntPtr graph);
    [LibraryImport(GgmlLibrary.Base)] public static partial void ggml_backend_buffer_clear(IntPtr buffer, byte value);
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_backend_dev_backend_reg(IntPtr device);
    [LibraryImport(GgmlLibrary.Base, StringMarshalling = StringMarshalling.Utf8)]
    public static partial IntPtr ggml_backend_reg_get_proc_address(IntPtr reg, string name);
}
