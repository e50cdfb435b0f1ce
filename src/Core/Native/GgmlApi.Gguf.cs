using System.Runtime.InteropServices;
using LlamaAdapter.Core.Formats.Gguf;

namespace LlamaAdapter.Core.Native;

/// <summary>struct gguf_init_params, passed by value to gguf_init_from_file.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct GgufInitParams
{
    public byte NoAlloc;    // C bool
    public IntPtr* Context; // struct ggml_context **: when not null, ggml creates a context holding the tensors
}

/// <summary>
/// ggml's own GGUF reader (gguf.h, exported by libggml-base): the reference our reader is checked against.
/// The getters abort the process on a wrong key id or type, so callers check gguf_get_kv_type first.
/// </summary>
internal static unsafe partial class GgmlApi
{
    [LibraryImport(GgmlLibrary.Base, StringMarshalling = StringMarshalling.Utf8)]
    public static partial IntPtr gguf_init_from_file(string fname, GgufInitParams p);
    [LibraryImport(GgmlLibrary.Base)] public static partial void gguf_free(IntPtr ctx);

    [LibraryImport(GgmlLibrary.Base)] public static partial uint gguf_get_version(IntPtr ctx);
    [LibraryImport(GgmlLibrary.Base)] public static partial nuint gguf_get_alignment(IntPtr ctx);
    [LibraryImport(GgmlLibrary.Base)] public static partial nuint gguf_get_data_offset(IntPtr ctx);

    [LibraryImport(GgmlLibrary.Base)] public static partial long gguf_get_n_kv(IntPtr ctx);
    [LibraryImport(GgmlLibrary.Base, StringMarshalling = StringMarshalling.Utf8)]
    public static partial long gguf_find_key(IntPtr ctx, string key);
    [LibraryImport(GgmlLibrary.Base)] public static partial byte* gguf_get_key(IntPtr ctx, long keyId);
    [LibraryImport(GgmlLibrary.Base)] public static partial GgufValueType gguf_get_kv_type(IntPtr ctx, long keyId);
    [LibraryImport(GgmlLibrary.Base)] public static partial GgufValueType gguf_get_arr_type(IntPtr ctx, long keyId);

    [LibraryImport(GgmlLibrary.Base)] public static partial byte gguf_get_val_u8(IntPtr ctx, long keyId);
    [LibraryImport(GgmlLibrary.Base)] public static partial sbyte gguf_get_val_i8(IntPtr ctx, long keyId);
    [LibraryImport(GgmlLibrary.Base)] public static partial ushort gguf_get_val_u16(IntPtr ctx, long keyId);
    [LibraryImport(GgmlLibrary.Base)] public static partial short gguf_get_val_i16(IntPtr ctx, long keyId);
    [LibraryImport(GgmlLibrary.Base)] public static partial uint gguf_get_val_u32(IntPtr ctx, long keyId);
    [LibraryImport(GgmlLibrary.Base)] public static partial int gguf_get_val_i32(IntPtr ctx, long keyId);
    [LibraryImport(GgmlLibrary.Base)] public static partial float gguf_get_val_f32(IntPtr ctx, long keyId);
    [LibraryImport(GgmlLibrary.Base)] public static partial ulong gguf_get_val_u64(IntPtr ctx, long keyId);
    [LibraryImport(GgmlLibrary.Base)] public static partial long gguf_get_val_i64(IntPtr ctx, long keyId);
    [LibraryImport(GgmlLibrary.Base)] public static partial double gguf_get_val_f64(IntPtr ctx, long keyId);
    [LibraryImport(GgmlLibrary.Base)] public static partial byte gguf_get_val_bool(IntPtr ctx, long keyId); // C bool
    [LibraryImport(GgmlLibrary.Base)] public static partial byte* gguf_get_val_str(IntPtr ctx, long keyId);
    [LibraryImport(GgmlLibrary.Base)] public static partial nuint gguf_get_arr_n(IntPtr ctx, long keyId);
    [LibraryImport(GgmlLibrary.Base)] public static partial void* gguf_get_arr_data(IntPtr ctx, long keyId);
    [LibraryImport(GgmlLibrary.Base)] public static partial byte* gguf_get_arr_str(IntPtr ctx, long keyId, nuint i);

    [LibraryImport(GgmlLibrary.Base)] public static partial long gguf_get_n_tensors(IntPtr ctx);
    [LibraryImport(GgmlLibrary.Base, StringMarshalling = StringMarshalling.Utf8)]
    public static partial long gguf_find_tensor(IntPtr ctx, string name);
    [LibraryImport(GgmlLibrary.Base)] public static partial nuint gguf_get_tensor_offset(IntPtr ctx, long tensorId);
    [LibraryImport(GgmlLibrary.Base)] public static partial byte* gguf_get_tensor_name(IntPtr ctx, long tensorId);
    [LibraryImport(GgmlLibrary.Base)] public static partial GgmlType gguf_get_tensor_type(IntPtr ctx, long tensorId);
    [LibraryImport(GgmlLibrary.Base)] public static partial nuint gguf_get_tensor_size(IntPtr ctx, long tensorId);

    // Tensors of the ggml_context gguf_init_from_file created (no_alloc = false: with their data loaded).
    [LibraryImport(GgmlLibrary.Base, StringMarshalling = StringMarshalling.Utf8)]
    public static partial IntPtr ggml_get_tensor(IntPtr ctx, string name);
    [LibraryImport(GgmlLibrary.Base)] public static partial void* ggml_get_data(IntPtr tensor);
    [LibraryImport(GgmlLibrary.Base)] public static partial long ggml_nelements(IntPtr tensor);
    [LibraryImport(GgmlLibrary.Base)] public static partial int ggml_n_dims(IntPtr tensor);
}
