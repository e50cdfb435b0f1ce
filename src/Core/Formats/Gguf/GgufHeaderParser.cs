using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tensors;

namespace LlamaAdapter.Core.Formats.Gguf;

/// <summary>What the header of a GGUF file says, checked against the file's length.</summary>
internal sealed record GgufHeader(uint Version, GgufMetadata Metadata, IReadOnlyList<GgufTensorInfo> Tensors, long Alignment, long DataOffset);

/// <summary>
/// The name of a header field, formatted only when an error needs it (a 32000-token vocabulary would otherwise
/// format 32000 names): a base such as "metadata 'tokenizer.ggml.tokens'", an element index, a suffix ("length").
/// </summary>
internal readonly struct Field(string name, int index = -1, string? suffix = null)
{
    public static implicit operator Field(string name) => new(name);
    /// <summary>Element <paramref name="i"/> of this array field.</summary>
    public Field this[int i] => new(index < 0 ? name : $"{name}[{index}]", i);
    public Field With(string part) => new(name, index, part);
    public override string ToString() => name + (index >= 0 ? $"[{index}]" : "") + (suffix is null ? "" : " " + suffix);
}

/// <summary>
/// Parses the header of a GGUF v3 file held in memory (a mapped view). Every read is bounded by the bytes left, and
/// every claimed count is checked against them before anything proportional to it is allocated, so a hostile file
/// fails fast with a <see cref="GgufFormatException"/> instead of allocating, hanging or reading out of bounds.
/// </summary>
internal sealed unsafe class GgufHeaderParser
{
    /// <summary>Arrays of arrays may nest this deep; deeper nesting is refused rather than recursed into.</summary>
    public const int MaxArrayNesting = 8;

    // Smallest possible encodings, used to bound claimed counts by the bytes left.
    private const int MinKvBytes = 8 + 4 + 1;              // key length, value type, a one-byte value
    private const int MinTensorInfoBytes = 8 + 4 + 8 + 4 + 8; // name length, n_dims, one ne, type, offset

    private static readonly string[] NeNames = ["ne[0]", "ne[1]", "ne[2]", "ne[3]"];
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly byte* _data;
    private readonly long _length;
    private readonly string _file;
    private long _pos;

    private GgufHeaderParser(byte* data, long length, string file)
    {
        _data = data;
        _length = length;
        _file = file;
    }

    public static GgufHeader Parse(byte* data, long length, string file)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("GGUF files are little-endian; this reader maps them directly and needs a little-endian host");
        return new GgufHeaderParser(data, length, file).ParseHeader();
    }

    private GgufHeader ParseHeader()
    {
        if (_length < 4 || ReadUInt32At(0) != GgufLayout.Magic)
        {
            string got = _length == 0 ? "an empty file"
                : string.Join(' ', new ReadOnlySpan<byte>(_data, (int)Math.Min(4, _length)).ToArray().Select(b => b.ToString("X2")));
            throw Error("magic", 0, $"expected \"GGUF\" (47 47 55 46), got {got}");
        }
        _pos = 4;

        long at = _pos;
        uint version = ReadUInt32("version");
        if (version is 1 or 2) throw Error("version", at, $"only GGUF v3 is supported; this file is GGUF v{version} (re-convert it with a current converter)");
        if (version != GgufLayout.Version) throw Error("version", at, $"expected 3, got {version}");

        at = _pos;
        ulong tensorCount = ReadUInt64("tensor_count");
        long kvAt = _pos;
        ulong kvCount = ReadUInt64("metadata_kv_count");
        if (kvCount > (ulong)(Left / MinKvBytes))
            throw Error("metadata_kv_count", kvAt, $"expected at most {Left / MinKvBytes} key/value pairs in the {Left} bytes left, got {kvCount}");
        long mostTensors = Math.Min(Left / MinTensorInfoBytes, System.Array.MaxLength);
        if (tensorCount > (ulong)mostTensors)
            throw Error("tensor_count", at, $"expected at most {mostTensors} tensors in the {Left} bytes left, got {tensorCount}");

        var metadata = new GgufMetadata { Source = _file };
        long alignment = GgufLayout.DefaultAlignment;
        for (long i = 0; i < (long)kvCount; i++)
        {
            long keyAt = _pos;
            string key = ReadString($"metadata {i} key");
            if (key.Length == 0) throw Error($"metadata {i} key", keyAt, "expected a non-empty key");
            if (metadata.ContainsKey(key)) throw Error($"metadata {i} key", keyAt, $"duplicate key '{key}'");
            long typeAt = _pos;
            var type = (GgufValueType)ReadUInt32($"metadata '{key}' type");
            if (!GgufLayout.IsKnown(type)) throw Error($"metadata '{key}' type", typeAt, $"expected a GGUF value type 0..12, got {(uint)type}");
            long valueAt = _pos;
            var value = type == GgufValueType.Array ? ReadArray($"metadata '{key}'", 1) : ReadScalar(type, $"metadata '{key}'");
            if (key == GgufLayout.AlignmentKey)
            {
                if (type != GgufValueType.UInt32)
                    throw Error($"metadata '{key}'", typeAt, $"expected type UInt32, got {(value.IsArray ? $"an array of {value.ElementType}" : type)}");
                uint a = (uint)value.Raw;
                if (!GgufLayout.IsValidAlignment(a)) throw Error($"metadata '{key}'", valueAt, $"expected a power of two > 0, got {a}");
                alignment = a;
            }
            metadata.Set(key, value);
        }

        var tensors = new List<GgufTensorInfo>((int)tensorCount);
        var byName = new Dictionary<string, int>((int)tensorCount, StringComparer.Ordinal);
        var offsetFieldAt = new long[(int)tensorCount];
        Span<long> ne = stackalloc long[GgufLayout.MaxDims];
        for (int i = 0; i < (int)tensorCount; i++)
        {
            long nameAt = _pos;
            string name = ReadString($"tensor {i} name");
            if (!byName.TryAdd(name, i)) throw Error($"tensor {i} name", nameAt, $"duplicate tensor name '{name}' (first is tensor {byName[name]})");
            Field field = $"tensor {i} '{name}'";

            long dimsAt = _pos;
            uint nDims = ReadUInt32(field.With("n_dims"));
            if (nDims is 0 or > GgufLayout.MaxDims) throw Error(field.With("n_dims"), dimsAt, $"expected 1 to {GgufLayout.MaxDims}, got {nDims}");
            long shapeAt = _pos;
            for (int d = 0; d < nDims; d++)
            {
                long neAt = _pos;
                ne[d] = ReadInt64(field.With(NeNames[d]));
                if (ne[d] < 0) throw Error(field.With(NeNames[d]), neAt, $"expected a size >= 0, got {ne[d]}");
            }
            long typeAt = _pos;
            uint rawType = ReadUInt32(field.With("type"));
            var type = (GgmlType)rawType;
            if (rawType > int.MaxValue || !GgmlTypeTraits.IsKnown(type))
                throw Error(field.With("type"), typeAt, $"expected a known ggml tensor type, got {rawType}");
            long byteSize = GgufTensorInfo.ByteSizeOf(type, ne[..(int)nDims], out string? shapeError);
            if (shapeError is not null) throw Error(field.With("shape"), shapeAt, shapeError);
            long offsetAt = _pos;
            ulong offset = ReadUInt64(field.With("offset"));
            if (offset > long.MaxValue) throw Error(field.With("offset"), offsetAt, $"expected an offset below 2^63, got {offset}");
            if ((long)offset % alignment != 0) throw Error(field.With("offset"), offsetAt, $"expected a multiple of {alignment}, got {offset}");
            offsetFieldAt[i] = offsetAt;
            tensors.Add(new GgufTensorInfo(name, type, ne[..(int)nDims].ToArray(), (long)offset, byteSize, FileOffset: -1)); // set below
        }

        long headerEnd = _pos;
        long dataOffset = GgufLayout.Align(headerEnd, alignment);
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            long room = _length - dataOffset; // negative when the file ends before the data section
            if (t.Offset > room || t.ByteSize > room - t.Offset)
                throw Error($"tensor {i} '{t.Name}' offset", offsetFieldAt[i],
                            $"expected its {t.ByteSize} bytes within the file, but data offset {t.Offset} + data section start {dataOffset} " +
                            $"+ size runs past the file's end at {_length} (truncated or out of bounds)");
            tensors[i] = t with { FileOffset = dataOffset + t.Offset };
        }
        CheckNoOverlap(tensors, offsetFieldAt);
        return new GgufHeader(version, metadata, tensors, alignment, dataOffset);
    }

    private void CheckNoOverlap(List<GgufTensorInfo> tensors, long[] offsetFieldAt)
    {
        var order = Enumerable.Range(0, tensors.Count).Where(i => tensors[i].ByteSize > 0).OrderBy(i => tensors[i].Offset).ToArray();
        for (int k = 1; k < order.Length; k++)
        {
            var prev = tensors[order[k - 1]];
            var cur = tensors[order[k]];
            if (cur.Offset < prev.Offset + prev.ByteSize)
                throw Error($"tensor {order[k]} '{cur.Name}' offset", offsetFieldAt[order[k]],
                            $"expected no overlap, but data offsets [{cur.Offset}, {cur.Offset + cur.ByteSize}) overlap " +
                            $"tensor {order[k - 1]} '{prev.Name}' at [{prev.Offset}, {prev.Offset + prev.ByteSize})");
        }
    }

    private GgufValue ReadScalar(GgufValueType type, Field field)
    {
        long at = _pos;
        return type switch
        {
            GgufValueType.UInt8 => GgufValue.Of(Take(1, field)[0]),
            GgufValueType.Int8 => GgufValue.Of((sbyte)Take(1, field)[0]),
            GgufValueType.UInt16 => GgufValue.Of(BinaryPrimitives.ReadUInt16LittleEndian(Take(2, field))),
            GgufValueType.Int16 => GgufValue.Of(BinaryPrimitives.ReadInt16LittleEndian(Take(2, field))),
            GgufValueType.UInt32 => GgufValue.Of(ReadUInt32(field)),
            GgufValueType.Int32 => GgufValue.Of(BinaryPrimitives.ReadInt32LittleEndian(Take(4, field))),
            GgufValueType.Float32 => GgufValue.Of(BinaryPrimitives.ReadSingleLittleEndian(Take(4, field))),
            GgufValueType.UInt64 => GgufValue.Of(ReadUInt64(field)),
            GgufValueType.Int64 => GgufValue.Of(ReadInt64(field)),
            GgufValueType.Float64 => GgufValue.Of(BinaryPrimitives.ReadDoubleLittleEndian(Take(8, field))),
            GgufValueType.Bool => GgufValue.Of(ReadBool(field)),
            GgufValueType.String => GgufValue.Of(ReadString(field)),
            _ => throw Error(field, at, $"expected a scalar GGUF type, got {type}"),
        };
    }

    /// <summary>An array body: element type, count, elements. Elements of an array of arrays are array bodies too.</summary>
    private GgufValue ReadArray(Field field, int depth)
    {
        if (depth > MaxArrayNesting) throw Error(field, _pos, $"expected arrays nested at most {MaxArrayNesting} deep");
        long typeAt = _pos;
        var type = (GgufValueType)ReadUInt32(field.With("element type"));
        if (!GgufLayout.IsKnown(type)) throw Error(field.With("element type"), typeAt, $"expected a GGUF value type 0..12, got {(uint)type}");
        long countAt = _pos;
        ulong count = ReadUInt64(field.With("count"));
        long most = Math.Min(Left / GgufLayout.MinEncodedBytes(type), System.Array.MaxLength);
        if (count > (ulong)most)
            throw Error(field.With("count"), countAt, $"expected at most {most} {type} elements in the {Left} bytes left, got {count}");
        int n = (int)count;
        return type switch
        {
            GgufValueType.UInt8 => GgufValue.Array(TakeArray<byte>(n, field)),
            GgufValueType.Int8 => GgufValue.Array(TakeArray<sbyte>(n, field)),
            GgufValueType.UInt16 => GgufValue.Array(TakeArray<ushort>(n, field)),
            GgufValueType.Int16 => GgufValue.Array(TakeArray<short>(n, field)),
            GgufValueType.UInt32 => GgufValue.Array(TakeArray<uint>(n, field)),
            GgufValueType.Int32 => GgufValue.Array(TakeArray<int>(n, field)),
            GgufValueType.Float32 => GgufValue.Array(TakeArray<float>(n, field)),
            GgufValueType.UInt64 => GgufValue.Array(TakeArray<ulong>(n, field)),
            GgufValueType.Int64 => GgufValue.Array(TakeArray<long>(n, field)),
            GgufValueType.Float64 => GgufValue.Array(TakeArray<double>(n, field)),
            GgufValueType.Bool => GgufValue.Array(ReadBools(n, field)),
            GgufValueType.String => GgufValue.Array(ReadStrings(n, field)),
            _ => GgufValue.ArrayOfArrays(ReadArrays(n, field, depth)),
        };
    }

    private GgufValue[] ReadArrays(int n, Field field, int depth)
    {
        var items = new GgufValue[n];
        for (int j = 0; j < n; j++) items[j] = ReadArray(field[j], depth + 1);
        return items;
    }

    private string[] ReadStrings(int n, Field field)
    {
        var items = new string[n];
        for (int j = 0; j < n; j++) items[j] = ReadString(field[j]);
        return items;
    }

    private bool[] ReadBools(int n, Field field)
    {
        var items = new bool[n];
        for (int j = 0; j < n; j++) items[j] = ReadBool(field[j]);
        return items;
    }

    private T[] TakeArray<T>(int n, Field field) where T : unmanaged =>
        MemoryMarshal.Cast<byte, T>(Take((long)n * sizeof(T), field)).ToArray();

    private bool ReadBool(Field field)
    {
        long at = _pos;
        byte b = Take(1, field)[0];
        return b <= 1 ? b == 1 : throw Error(field, at, $"expected a bool (0 or 1), got {b}");
    }

    private string ReadString(Field field)
    {
        long at = _pos;
        ulong length = ReadUInt64(field.With("length"));
        if (length > (ulong)Math.Min(Left, int.MaxValue))
            throw Error(field.With("length"), at, $"expected a string length within the {Left} bytes left, got {length}");
        var bytes = Take((long)length, field);
        // Validate, then decode on the fast path: a strict decoder is several times slower per string, which
        // shows on a 32000-token vocabulary. The strict one runs only to locate the bad sequence.
        if (System.Text.Unicode.Utf8.IsValid(bytes)) return Encoding.UTF8.GetString(bytes);
        try { StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException e) { throw Error(field, at + 8, $"expected UTF-8 text, got an invalid byte sequence at index {e.Index}", e); }
        throw Error(field, at + 8, "expected UTF-8 text, got an invalid byte sequence");
    }

    private uint ReadUInt32(Field field) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, field));
    private ulong ReadUInt64(Field field) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, field));
    private long ReadInt64(Field field) => BinaryPrimitives.ReadInt64LittleEndian(Take(8, field));
    private uint ReadUInt32At(long at) => BinaryPrimitives.ReadUInt32LittleEndian(new ReadOnlySpan<byte>(_data + at, 4));

    private long Left => _length - _pos;

    /// <summary>The next <paramref name="n"/> bytes (n below 2^31), or a truncation error naming the field.</summary>
    private ReadOnlySpan<byte> Take(long n, Field field)
    {
        if (n > Left) throw Error(field, _pos, $"expected {n} bytes, but the file ends after {Left} (truncated)");
        var span = new ReadOnlySpan<byte>(_data + _pos, checked((int)n));
        _pos += n;
        return span;
    }

    private GgufFormatException Error(Field field, long? offset, string detail, Exception? inner = null) =>
        new(_file, field.ToString(), offset, detail, inner);
}
