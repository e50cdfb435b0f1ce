using System.Runtime.InteropServices;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Core.Formats.Gguf;

/// <summary>
/// A GGUF file as ggml's own gguf_init_from_file reads it, converted into our types: the independent reference
/// that <see cref="GgufReader"/> and <see cref="GgufWriter"/> are checked against (and the baseline of the open
/// benchmark). With <c>loadData</c> ggml also reads every tensor's bytes into a ggml context of its own.
/// </summary>
public sealed unsafe class GgmlGgufFile : IDisposable
{
    private readonly GgufContextHandle _gguf;
    private readonly GgmlContextHandle? _ggml;

    private GgmlGgufFile(GgufContextHandle gguf, GgmlContextHandle? ggml)
    {
        _gguf = gguf;
        _ggml = ggml;
    }

    /// <summary>
    /// ggml's reading of <paramref name="path"/>, or null when ggml refuses the file (it logs why through ggml's log).
    /// <paramref name="withTensors"/> makes ggml build a ggml_context of the tensors (shapes); <paramref name="loadData"/>
    /// also loads their bytes into it.
    /// </summary>
    public static GgmlGgufFile? TryOpen(string path, bool withTensors = false, bool loadData = false)
    {
        GgmlLibrary.EnsureResolver();
        IntPtr ggml = IntPtr.Zero;
        var p = new GgufInitParams { NoAlloc = (byte)(loadData ? 0 : 1), Context = withTensors || loadData ? &ggml : null };
        var gguf = new GgufContextHandle(GgmlApi.gguf_init_from_file(path, p));
        var ctx = ggml == IntPtr.Zero ? null : new GgmlContextHandle(ggml);
        if (gguf.IsInvalid) { ctx?.Dispose(); gguf.Dispose(); return null; }
        return new GgmlGgufFile(gguf, ctx);
    }

    private IntPtr G => _gguf.DangerousGetHandle();

    public uint Version => GgmlApi.gguf_get_version(G);
    public long Alignment => (long)GgmlApi.gguf_get_alignment(G);
    public long DataOffset => (long)GgmlApi.gguf_get_data_offset(G);
    public long KeyCount => GgmlApi.gguf_get_n_kv(G);
    public long TensorCount => GgmlApi.gguf_get_n_tensors(G);

    /// <summary>Every key/value pair in ggml's order, converted with ggml's typed getters.</summary>
    public GgufMetadata ReadMetadata()
    {
        var m = new GgufMetadata();
        for (long i = 0; i < KeyCount; i++)
            m.Set(Utf8(GgmlApi.gguf_get_key(G, i)), ReadValue(i));
        return m;
    }

    /// <summary>Tensor infos as ggml has them: name, type, offset within the data section, byte size.</summary>
    public IReadOnlyList<(string Name, GgmlType Type, long Offset, long Size)> ReadTensors()
    {
        var list = new List<(string, GgmlType, long, long)>((int)TensorCount);
        for (long i = 0; i < TensorCount; i++)
            list.Add((Utf8(GgmlApi.gguf_get_tensor_name(G, i)), GgmlApi.gguf_get_tensor_type(G, i),
                      (long)GgmlApi.gguf_get_tensor_offset(G, i), (long)GgmlApi.gguf_get_tensor_size(G, i)));
        return list;
    }

    /// <summary>ne[0..n_dims) of a tensor in ggml's context (opened withTensors or loadData).</summary>
    public long[] TensorShape(string name)
    {
        IntPtr t = TensorHandle(name);
        // struct ggml_tensor begins { enum ggml_type type; struct ggml_backend_buffer * buffer; int64_t ne[4]; ... }:
        // ne sits at byte 16 on 64-bit hosts (a layout ggml has kept since ggml_tensor gained the buffer field).
        var ne = new ReadOnlySpan<long>((byte*)t + 16, GgufLayout.MaxDims).ToArray();
        long elements = ne.Aggregate(1L, (n, d) => n * d);
        if (elements != GgmlApi.ggml_nelements(t))
            throw new GgmlException($"ggml_tensor layout differs from the one assumed: ne [{string.Join(", ", ne)}] but ggml_nelements {GgmlApi.ggml_nelements(t)}");
        return ne[..Math.Max(1, GgmlApi.ggml_n_dims(t))];
    }

    /// <summary>The bytes ggml loaded for a tensor (opened with loadData).</summary>
    public ReadOnlySpan<byte> TensorData(string name)
    {
        long id = GgmlApi.gguf_find_tensor(G, name);
        if (id < 0) throw new KeyNotFoundException($"ggml has no tensor '{name}'");
        void* data = GgmlApi.ggml_get_data(TensorHandle(name));
        if (data == null) throw new InvalidOperationException("tensor data is not loaded: open with loadData");
        return new ReadOnlySpan<byte>(data, checked((int)GgmlApi.gguf_get_tensor_size(G, id)));
    }

    private IntPtr TensorHandle(string name)
    {
        if (_ggml is null) throw new InvalidOperationException("ggml built no tensor context: open with withTensors or loadData");
        IntPtr t = GgmlApi.ggml_get_tensor(_ggml.DangerousGetHandle(), name);
        return t != IntPtr.Zero ? t : throw new KeyNotFoundException($"ggml's context has no tensor '{name}'");
    }

    private GgufValue ReadValue(long i)
    {
        var type = GgmlApi.gguf_get_kv_type(G, i);
        if (type != GgufValueType.Array) return ReadScalar(type, i);
        var elementType = GgmlApi.gguf_get_arr_type(G, i);
        int n = checked((int)GgmlApi.gguf_get_arr_n(G, i));
        if (elementType == GgufValueType.String)
        {
            var items = new string[n];
            for (int j = 0; j < n; j++) items[j] = Utf8(GgmlApi.gguf_get_arr_str(G, i, (nuint)j));
            return GgufValue.Array(items);
        }
        void* data = GgmlApi.gguf_get_arr_data(G, i);
        return elementType switch
        {
            GgufValueType.UInt8 => GgufValue.Array(Copy<byte>(data, n)),
            GgufValueType.Int8 => GgufValue.Array(Copy<sbyte>(data, n)),
            GgufValueType.UInt16 => GgufValue.Array(Copy<ushort>(data, n)),
            GgufValueType.Int16 => GgufValue.Array(Copy<short>(data, n)),
            GgufValueType.UInt32 => GgufValue.Array(Copy<uint>(data, n)),
            GgufValueType.Int32 => GgufValue.Array(Copy<int>(data, n)),
            GgufValueType.Float32 => GgufValue.Array(Copy<float>(data, n)),
            GgufValueType.UInt64 => GgufValue.Array(Copy<ulong>(data, n)),
            GgufValueType.Int64 => GgufValue.Array(Copy<long>(data, n)),
            GgufValueType.Float64 => GgufValue.Array(Copy<double>(data, n)),
            GgufValueType.Bool => GgufValue.Array(Copy<byte>(data, n).Select(b => b != 0).ToArray()), // stored as int8
            _ => throw new GgmlException($"ggml reports an array of {elementType}, which it does not read"),
        };
    }

    private GgufValue ReadScalar(GgufValueType type, long i) => type switch
    {
        GgufValueType.UInt8 => GgufValue.Of(GgmlApi.gguf_get_val_u8(G, i)),
        GgufValueType.Int8 => GgufValue.Of(GgmlApi.gguf_get_val_i8(G, i)),
        GgufValueType.UInt16 => GgufValue.Of(GgmlApi.gguf_get_val_u16(G, i)),
        GgufValueType.Int16 => GgufValue.Of(GgmlApi.gguf_get_val_i16(G, i)),
        GgufValueType.UInt32 => GgufValue.Of(GgmlApi.gguf_get_val_u32(G, i)),
        GgufValueType.Int32 => GgufValue.Of(GgmlApi.gguf_get_val_i32(G, i)),
        GgufValueType.Float32 => GgufValue.Of(GgmlApi.gguf_get_val_f32(G, i)),
        GgufValueType.UInt64 => GgufValue.Of(GgmlApi.gguf_get_val_u64(G, i)),
        GgufValueType.Int64 => GgufValue.Of(GgmlApi.gguf_get_val_i64(G, i)),
        GgufValueType.Float64 => GgufValue.Of(GgmlApi.gguf_get_val_f64(G, i)),
        GgufValueType.Bool => GgufValue.Of(GgmlApi.gguf_get_val_bool(G, i) != 0),
        GgufValueType.String => GgufValue.Of(Utf8(GgmlApi.gguf_get_val_str(G, i))),
        _ => throw new GgmlException($"ggml reports key type {type}, which is not a GGUF scalar"),
    };

    private static T[] Copy<T>(void* data, int n) where T : unmanaged => new ReadOnlySpan<T>(data, n).ToArray();
    private static string Utf8(byte* s) => Marshal.PtrToStringUTF8((IntPtr)s) ?? "";

    public void Dispose()
    {
        _ggml?.Dispose();
        _gguf.Dispose();
    }

    private sealed class GgufContextHandle : SafeHandle
    {
        public GgufContextHandle(IntPtr h) : base(IntPtr.Zero, ownsHandle: true) => SetHandle(h);
        public override bool IsInvalid => handle == IntPtr.Zero;
        protected override bool ReleaseHandle() { GgmlApi.gguf_free(handle); return true; }
    }

    private sealed class GgmlContextHandle : SafeHandle
    {
        public GgmlContextHandle(IntPtr h) : base(IntPtr.Zero, ownsHandle: true) => SetHandle(h);
        public override bool IsInvalid => handle == IntPtr.Zero;
        protected override bool ReleaseHandle() { GgmlApi.ggml_free(handle); return true; }
    }
}
