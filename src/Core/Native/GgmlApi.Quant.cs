using System.Runtime.InteropServices;

namespace LlamaAdapter.Core.Native;

/// <summary>
/// struct ggml_type_traits of ggml.h, as ggml_get_type_traits returns it (read-only, owned by ggml).
/// The field order and the C padding after <c>is_quantized</c> are checked against ggml_blck_size /
/// ggml_type_size / ggml_type_name by a test, so a layout change in a new ggml shows up there.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct GgmlTypeTraitsNative
{
    public byte* TypeName;             // const char *
    public long BlockSize;             // int64_t blck_size
    public long BlockSizeInterleave;   // int64_t blck_size_interleave
    public nuint TypeSize;             // size_t type_size
    public byte IsQuantized;           // bool (7 bytes of padding follow)
    public delegate* unmanaged[Cdecl]<void*, float*, long, void> ToFloat;        // ggml_to_float_t (x, y, k)
    public delegate* unmanaged[Cdecl]<float*, void*, long, void> FromFloatRef;   // ggml_from_float_t (x, y, k)
}

/// <summary>ggml.h's quantization entry points (libggml-base). Callers validate shapes first: ggml aborts on a bad one.</summary>
internal static unsafe partial class GgmlApi
{
    [LibraryImport(GgmlLibrary.Base)] public static partial GgmlTypeTraitsNative* ggml_get_type_traits(GgmlType type);
    [LibraryImport(GgmlLibrary.Base)] public static partial long ggml_blck_size(GgmlType type);
    [LibraryImport(GgmlLibrary.Base)] public static partial nuint ggml_type_size(GgmlType type);
    [LibraryImport(GgmlLibrary.Base)] public static partial nuint ggml_row_size(GgmlType type, long ne);

    [LibraryImport(GgmlLibrary.Base)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool ggml_is_quantized(GgmlType type);

    [LibraryImport(GgmlLibrary.Base)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool ggml_quantize_requires_imatrix(GgmlType type);

    [LibraryImport(GgmlLibrary.Base)] public static partial void ggml_quantize_init(GgmlType type);

    /// <summary>Quantizes rows [start / nPerRow, + nrows) of src into dst at the same row offset; returns bytes written.</summary>
    [LibraryImport(GgmlLibrary.Base)]
    public static partial nuint ggml_quantize_chunk(GgmlType type, float* src, void* dst, long start, long nrows, long nPerRow, float* imatrix);

    [LibraryImport(GgmlLibrary.Base)] public static partial void ggml_fp32_to_fp16_row(float* x, ushort* y, long n);
    [LibraryImport(GgmlLibrary.Base)] public static partial void ggml_fp16_to_fp32_row(ushort* x, float* y, long n);
    [LibraryImport(GgmlLibrary.Base)] public static partial void ggml_fp32_to_bf16_row_ref(float* x, ushort* y, long n);
    [LibraryImport(GgmlLibrary.Base)] public static partial void ggml_bf16_to_fp32_row(ushort* x, float* y, long n);
}
