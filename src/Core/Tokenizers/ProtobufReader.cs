namespace LlamaAdapter.Core.Tokenizers;

/// <summary>Protobuf wire types (the low 3 bits of a field's tag).</summary>
internal enum WireType
{
    Varint = 0,
    Fixed64 = 1,
    LengthDelimited = 2,
    StartGroup = 3,
    EndGroup = 4,
    Fixed32 = 5,
}

/// <summary>
/// Just enough of the protobuf wire format to read a SentencePiece ModelProto: varints, fixed32/64 and
/// length-delimited fields, unknown fields skipped. Every read is bounds-checked; errors name the file and the
/// absolute byte offset (<see cref="Origin"/> + position), so a nested message reports where it is in the file.
/// </summary>
internal ref struct ProtobufReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly string _source;
    private int _pos;
    private long _tagAt;

    /// <param name="data">The bytes of one message.</param>
    /// <param name="source">The file, for errors.</param>
    /// <param name="origin">Where <paramref name="data"/> starts in the file.</param>
    public ProtobufReader(ReadOnlySpan<byte> data, string source, long origin = 0)
    {
        _data = data;
        _source = source;
        Origin = origin;
    }

    public long Origin { get; }
    /// <summary>The absolute file offset of the next byte to read.</summary>
    public readonly long Offset => Origin + _pos;
    public readonly bool AtEnd => _pos >= _data.Length;

    /// <summary>Reads a field tag; returns false at the end of the message.</summary>
    public bool TryReadTag(out int field, out WireType wire)
    {
        field = 0;
        wire = 0;
        if (AtEnd) return false;
        long at = _tagAt = Offset;
        ulong tag = ReadVarint();
        wire = (WireType)(tag & 7);
        ulong number = tag >> 3;
        if (number == 0 || number > 536_870_911) throw Bad(at, $"field number {number} (expected 1..2^29-1)");
        if (wire is not (WireType.Varint or WireType.Fixed64 or WireType.LengthDelimited or WireType.Fixed32))
            throw Bad(at, $"wire type {(int)wire} of field {number} (expected 0, 1, 2 or 5; groups are not used by this format)");
        field = (int)number;
        return true;
    }

    public ulong ReadVarint()
    {
        long at = Offset;
        ulong result = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (AtEnd) throw Bad(at, "a varint that runs past the end of the message");
            byte b = _data[_pos++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw Bad(at, "a varint longer than 10 bytes");
    }

    /// <summary>int32 fields are varints; negative values are sign-extended to 64 bits on the wire.</summary>
    public int ReadInt32() => unchecked((int)ReadVarint());

    public bool ReadBool() => ReadVarint() != 0;

    public float ReadFloat()
    {
        long at = Offset;
        if (_data.Length - _pos < 4) throw Bad(at, "a fixed32 that runs past the end of the message");
        float v = BitConverter.Int32BitsToSingle(System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(_data.Slice(_pos, 4)));
        _pos += 4;
        return v;
    }

    /// <summary>The payload of a length-delimited field, and the file offset where it starts.</summary>
    public ReadOnlySpan<byte> ReadBytes(out long payloadOffset)
    {
        long at = Offset;
        ulong length = ReadVarint();
        if (length > (ulong)(_data.Length - _pos))
            throw Bad(at, $"a length-delimited field of {length} bytes where only {_data.Length - _pos} remain in the message");
        payloadOffset = Offset;
        var slice = _data.Slice(_pos, (int)length);
        _pos += (int)length;
        return slice;
    }

    public string ReadString()
    {
        var bytes = ReadBytes(out long at);
        try { return StrictUtf8.GetString(bytes); }
        catch (System.Text.DecoderFallbackException) { throw Bad(at, "a string that is not valid UTF-8"); }
    }

    /// <summary>A reader over a nested message (a length-delimited field).</summary>
    public ProtobufReader ReadMessage()
    {
        var bytes = ReadBytes(out long at);
        return new ProtobufReader(bytes, _source, at);
    }

    public void Skip(WireType wire)
    {
        long at = Offset;
        switch (wire)
        {
            case WireType.Varint: ReadVarint(); break;
            case WireType.Fixed32: Advance(4, at); break;
            case WireType.Fixed64: Advance(8, at); break;
            case WireType.LengthDelimited: ReadBytes(out _); break;
            default: throw Bad(at, $"wire type {(int)wire}, which cannot be skipped");
        }
    }

    /// <summary>Checks that a known field came with the wire type its schema gives it.</summary>
    public readonly void Expect(int field, WireType actual, WireType expected, string name)
    {
        if (actual != expected)
            throw Bad(_tagAt, $"field {field} ({name}) with wire type {(int)actual}, expected {(int)expected}");
    }

    public readonly BadInputException Bad(long at, string what) =>
        new($"{_source}: byte offset {at}: malformed protobuf: {what}");

    private void Advance(int n, long at)
    {
        if (_data.Length - _pos < n) throw Bad(at, $"a {n}-byte fixed field that runs past the end of the message");
        _pos += n;
    }

    private static readonly System.Text.UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
}
