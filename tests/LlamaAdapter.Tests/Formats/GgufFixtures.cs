using System.Buffers.Binary;
using System.Text;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Tests.Formats;

/// <summary>A temp folder deleted with the test.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("gguf-test-").FullName;
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
}

/// <summary>GGUF files for the tests: every metadata value type, several tensor types and shapes.</summary>
public static class GgufFixtures
{
    /// <summary>One key per scalar type (edge values included) and one per array element type (empty ones too).</summary>
    public static GgufMetadata AllValueTypes(uint? alignment = null)
    {
        var m = new GgufMetadata();
        if (alignment is { } a) m.Set(GgufLayout.AlignmentKey, GgufValue.Of(a));
        m.Set("general.architecture", GgufValue.Of("llama"));
        m.Set("t.u8", GgufValue.Of(byte.MaxValue));
        m.Set("t.i8", GgufValue.Of(sbyte.MinValue));
        m.Set("t.u16", GgufValue.Of((ushort)0xBEEF));
        m.Set("t.i16", GgufValue.Of((short)-12345));
        m.Set("t.u32", GgufValue.Of(uint.MaxValue));
        m.Set("t.i32", GgufValue.Of(int.MinValue));
        m.Set("t.f32", GgufValue.Of(1e-5f));
        m.Set("t.f32.neg0", GgufValue.Of(-0.0f));
        m.Set("t.f32.nan", GgufValue.Of(float.NaN));
        m.Set("t.bool.true", GgufValue.Of(true));
        m.Set("t.bool.false", GgufValue.Of(false));
        m.Set("t.str", GgufValue.Of("héllo ▁wörld 🦙"));
        m.Set("t.str.empty", GgufValue.Of(""));
        m.Set("t.u64", GgufValue.Of(ulong.MaxValue));
        m.Set("t.i64", GgufValue.Of(long.MinValue));
        m.Set("t.f64", GgufValue.Of(Math.PI));
        m.Set("a.u8", GgufValue.Array(new byte[] { 0, 1, 255 }));
        m.Set("a.i8", GgufValue.Array(new sbyte[] { -128, 0, 127 }));
        m.Set("a.u16", GgufValue.Array(new ushort[] { 1, 65535 }));
        m.Set("a.i16", GgufValue.Array(new short[] { -32768, 7 }));
        m.Set("a.u32", GgufValue.Array(new uint[] { 3, 4_000_000_000 }));
        m.Set("a.i32", GgufValue.Array(new[] { 1, 2, 3, -1 }));
        m.Set("a.f32", GgufValue.Array(new[] { 0f, -1.5f, float.PositiveInfinity, float.Epsilon }));
        m.Set("a.bool", GgufValue.Array(new[] { true, false, true }));
        m.Set("a.str", GgufValue.Array(new[] { "<s>", "</s>", "▁the", "", "日本" }));
        m.Set("a.u64", GgufValue.Array(new[] { 0UL, ulong.MaxValue }));
        m.Set("a.i64", GgufValue.Array(new[] { long.MinValue, 42L }));
        m.Set("a.f64", GgufValue.Array(new[] { double.MaxValue, -0.25 }));
        m.Set("a.f32.empty", GgufValue.Array(System.Array.Empty<float>()));
        m.Set("a.str.empty", GgufValue.Array(System.Array.Empty<string>()));
        return m;
    }

    /// <summary>Arrays of arrays, GGUF-legal but refused by ggml's reader.</summary>
    public static GgufMetadata Nested() 
    {
        var m = new GgufMetadata();
        m.Set("n.mixed", GgufValue.ArrayOfArrays([GgufValue.Array(new[] { 1, 2 }), GgufValue.Array(new[] { "a", "b", "c" }), GgufValue.Array(System.Array.Empty<bool>())]));
        m.Set("n.deep", GgufValue.ArrayOfArrays([GgufValue.ArrayOfArrays([GgufValue.Array(new[] { 1.5 })]), GgufValue.ArrayOfArrays([])]));
        return m;
    }

    public static GgufTensorSpec[] MixedTensors() =>
    [
        new("token_embd.weight", GgmlType.F16, [64, 10]),
        new("blk.0.attn_q.weight", GgmlType.Q8_0, [64, 3]),
        new("blk.0.ffn_up.weight", GgmlType.Q4_K, [256, 2]),
        new("blk.0.attn_norm.weight", GgmlType.F32, [7]),
        new("adapter.gate", GgmlType.F32, [1, 3, 2, 2]),
        new("pos", GgmlType.I32, [5, 1, 3]),
        new("bf", GgmlType.BF16, [3, 2]),
        new("output.weight", GgmlType.Q6_K, [256, 1]),
    ];

    /// <summary>Deterministic bytes for a tensor (a different stream per name).</summary>
    public static byte[] BytesFor(GgufTensorInfo t)
    {
        var bytes = new byte[t.ByteSize];
        new Random(t.Name.GetHashCode(StringComparison.Ordinal) ^ (int)t.ByteSize).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Writes <paramref name="metadata"/> and <paramref name="tensors"/> (with <see cref="BytesFor"/> data) to <paramref name="path"/>.</summary>
    public static void Write(string path, GgufMetadata metadata, IEnumerable<GgufTensorSpec> tensors)
    {
        using var w = GgufWriter.Create(path, metadata, tensors);
        foreach (var t in w.Tensors) w.WriteTensor(t.Name, BytesFor(t));
        w.Commit();
    }
}

/// <summary>Hand-built GGUF bytes, field by field, for the malformed-input cases.</summary>
public sealed class RawGguf
{
    private readonly MemoryStream _s = new();
    public long Position => _s.Position;

    public RawGguf U32(uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); _s.Write(b); return this; }
    public RawGguf U64(ulong v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); _s.Write(b); return this; }
    public RawGguf I64(long v) => U64((ulong)v);
    public RawGguf Bytes(params byte[] b) { _s.Write(b); return this; }
    public RawGguf Str(string s) => StrBytes(Encoding.UTF8.GetBytes(s));
    public RawGguf StrBytes(byte[] b) { U64((ulong)b.Length); return Bytes(b); }
    public RawGguf Header(ulong tensors, ulong kvs) => Bytes("GGUF"u8.ToArray()).U32(3).U64(tensors).U64(kvs);
    public RawGguf Kv(string key, GgufValueType type) => Str(key).U32((uint)type);
    /// <summary>A tensor info: name, n_dims, ne..., type, offset.</summary>
    public RawGguf Tensor(string name, GgmlType type, ulong offset, params long[] ne)
    {
        Str(name).U32((uint)ne.Length);
        foreach (long d in ne) I64(d);
        return U32((uint)type).U64(offset);
    }
    public RawGguf PadTo(long alignment) { while (_s.Position % alignment != 0) _s.WriteByte(0); return this; }
    public RawGguf Zeros(int n) { _s.Write(new byte[n]); return this; }
    public byte[] ToArray() => _s.ToArray();
}
