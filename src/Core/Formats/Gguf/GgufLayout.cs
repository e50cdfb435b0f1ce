namespace LlamaAdapter.Core.Formats.Gguf;

/// <summary>The fixed numbers of GGUF v3 (ggml's gguf.h) shared by the reader and the writer.</summary>
public static class GgufLayout
{
    /// <summary>"GGUF" read as a little-endian uint32.</summary>
    public const uint Magic = 0x46554747;
    public const uint Version = 3;
    public const uint DefaultAlignment = 32;
    public const string AlignmentKey = "general.alignment";
    /// <summary>ggml_tensor holds at most four dimensions (GGML_MAX_DIMS).</summary>
    public const int MaxDims = 4;
    /// <summary>ggml keeps tensor names in a char[64] (GGML_MAX_NAME), terminator included.</summary>
    public const int MaxGgmlNameBytes = 63;

    /// <summary>Magic, version, tensor count, kv count.</summary>
    public const int FixedHeaderBytes = 4 + 4 + 8 + 8;

    /// <summary>Whether <paramref name="path"/> is a file that starts with the GGUF magic (false for folders and missing paths).</summary>
    public static bool IsGgufFile(string path)
    {
        if (!File.Exists(path)) return false;
        Span<byte> magic = stackalloc byte[4];
        using var f = File.OpenRead(path);
        return f.ReadAtLeast(magic, 4, throwOnEndOfStream: false) == 4 && magic.SequenceEqual("GGUF"u8);
    }

    public static bool IsValidAlignment(ulong a) => a != 0 && (a & (a - 1)) == 0;

    /// <summary>The smallest multiple of <paramref name="alignment"/> (a power of two) at or above <paramref name="offset"/>.</summary>
    public static long Align(long offset, long alignment) => checked(offset + alignment - 1) & ~(alignment - 1);

    /// <summary>Bytes one element of a metadata value of this type takes at least (a string is at least its length field).</summary>
    public static int MinEncodedBytes(GgufValueType t) => t switch
    {
        GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
        GgufValueType.UInt16 or GgufValueType.Int16 => 2,
        GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
        GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 => 8,
        GgufValueType.String => 8,
        GgufValueType.Array => 4 + 8, // element type + count
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "not a GGUF value type"),
    };

    public static bool IsKnown(GgufValueType t) => t <= GgufValueType.Float64;
}
