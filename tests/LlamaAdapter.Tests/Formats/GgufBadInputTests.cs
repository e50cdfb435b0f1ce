using System.Diagnostics;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Tests.Formats;

/// <summary>Each check of the reader, on a hand-built file: a GgufFormatException naming field, byte and expectation.</summary>
public class GgufBadInputTests : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    private GgufFormatException Refused(byte[] bytes, string field, long? offset, string detailPart)
    {
        string path = _dir.File($"bad{Guid.NewGuid():N}.gguf");
        File.WriteAllBytes(path, bytes);
        var sw = Stopwatch.StartNew();
        var e = Assert.Throws<GgufFormatException>(() => GgufReader.Open(path).Dispose());
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(1), $"took {sw.Elapsed}");
        Assert.IsAssignableFrom<BadInputException>(e);
        Assert.Equal(path, e.File);
        Assert.Equal(field, e.Field);
        Assert.Equal(offset, e.Offset);
        Assert.Contains(detailPart, e.Message);
        Assert.StartsWith($"{path}: {field}{(offset is { } o ? $" at byte {o}" : "")}: ", e.Message);
        return e;
    }

    private static RawGguf OneTensorHeader() => new RawGguf().Header(tensors: 1, kvs: 0);

    [Fact]
    public void Magic_Version_Empty()
    {
        Refused([], "magic", 0, "empty file");
        Refused("GGU"u8.ToArray(), "magic", 0, "got 47 47 55");
        Refused("GGML\x03\0\0\0"u8.ToArray(), "magic", 0, "expected \"GGUF\"");
        Refused(new RawGguf().Bytes("GGUF"u8.ToArray()).U32(2).U64(0).U64(0).ToArray(), "version", 4, "only GGUF v3 is supported; this file is GGUF v2");
        Refused(new RawGguf().Bytes("GGUF"u8.ToArray()).U32(1).ToArray(), "version", 4, "GGUF v1");
        Refused(new RawGguf().Bytes("GGUF"u8.ToArray()).U32(0x03000000).ToArray(), "version", 4, "expected 3, got 50331648");
    }

    [Fact]
    public void Truncation_NamesTheField()
    {
        Refused(new RawGguf().Bytes("GGUF"u8.ToArray()).U32(3).U64(0).ToArray(), "metadata_kv_count", 16, "truncated");
        var kv = new RawGguf().Header(0, 1).Kv("general.name", GgufValueType.String).U64(10).Bytes("abc"u8.ToArray()).ToArray();
        Refused(kv, "metadata 'general.name' length", 48, "expected a string length within the 3 bytes left, got 10");
        var tensor = OneTensorHeader().Str("w").U32(4).I64(4).I64(1).I64(1).Bytes(1, 0).ToArray();
        Refused(tensor, "tensor 0 'w' ne[3]", 61, "expected 8 bytes, but the file ends after 2 (truncated)");
    }

    [Fact]
    public void HugeCounts_FailFast()
    {
        Refused(new RawGguf().Header(tensors: 1_000_000_000, kvs: 0).Zeros(64).ToArray(), "tensor_count", 8, "got 1000000000");
        Refused(new RawGguf().Header(tensors: 0, kvs: ulong.MaxValue).ToArray(), "metadata_kv_count", 16, $"got {ulong.MaxValue}");
        Refused(new RawGguf().Header(0, 1).U64(1UL << 63).Zeros(32).ToArray(), "metadata 0 key length", 24, $"got {1UL << 63}");
        var arr = new RawGguf().Header(0, 1).Kv("tokens", GgufValueType.Array).U32((uint)GgufValueType.String).U64(1UL << 62).Zeros(80).ToArray();
        Refused(arr, "metadata 'tokens' count", 46, "expected at most 10 String elements in the 80 bytes left");
        var nested = new RawGguf().Header(0, 1).Kv("n", GgufValueType.Array).U32((uint)GgufValueType.Array).U64(1_000_000_000).Zeros(24).ToArray();
        Refused(nested, "metadata 'n' count", 41, "expected at most 2 Array elements");
    }

    [Fact]
    public void Metadata_TypesKeysTextAndBools()
    {
        Refused(new RawGguf().Header(0, 1).Kv("k", (GgufValueType)13).U32(0).ToArray(), "metadata 'k' type", 33, "got 13");
        Refused(new RawGguf().Header(0, 1).Kv("k", GgufValueType.Array).U32(99).U64(0).ToArray(), "metadata 'k' element type", 37, "got 99");
        Refused(new RawGguf().Header(0, 1).StrBytes([0x66, 0xC3, 0x28]).U32(4).U32(1).ToArray(), "metadata 0 key", 32, "invalid byte sequence at index 1");
        Refused(new RawGguf().Header(0, 1).Kv("s", GgufValueType.String).StrBytes([0xED, 0xA0, 0x80]).ToArray(), "metadata 's'", 45, "expected UTF-8"); // an encoded surrogate
        Refused(new RawGguf().Header(0, 2).Kv("k", GgufValueType.UInt8).Bytes(1).Kv("k", GgufValueType.UInt8).Bytes(2).ToArray(),
                "metadata 1 key", 38, "duplicate key 'k'");
        Refused(new RawGguf().Header(0, 1).Kv("", GgufValueType.UInt8).Bytes(1).ToArray(), "metadata 0 key", 24, "non-empty");
        Refused(new RawGguf().Header(0, 1).Kv("b", GgufValueType.Bool).Bytes(2).ToArray(), "metadata 'b'", 37, "expected a bool (0 or 1), got 2");
        Refused(new RawGguf().Header(0, 1).Kv("b", GgufValueType.Array).U32((uint)GgufValueType.Bool).U64(2).Bytes(1, 5).ToArray(),
                "metadata 'b'[1]", 50, "got 5");
    }

    [Fact]
    public void Metadata_NestingDepthIsBounded()
    {
        // 10 levels of arrays of one array each: legal GGUF, but deeper than the reader recurses.
        var raw = new RawGguf().Header(0, 1).Kv("deep", GgufValueType.Array);
        for (int i = 0; i < 10; i++) raw.U32((uint)GgufValueType.Array).U64(1);
        raw.U32((uint)GgufValueType.UInt8).U64(0);
        var e = Refused(raw.ToArray(), "metadata 'deep'[0][0][0][0][0][0][0][0]", 40 + 8 * 12, "nested at most 8 deep");
        Assert.NotNull(e);
    }

    [Fact]
    public void Alignment_MustBeAPowerOfTwoUInt32()
    {
        Refused(new RawGguf().Header(0, 1).Kv(GgufLayout.AlignmentKey, GgufValueType.UInt32).U32(48).ToArray(),
                "metadata 'general.alignment'", 53, "expected a power of two > 0, got 48");
        Refused(new RawGguf().Header(0, 1).Kv(GgufLayout.AlignmentKey, GgufValueType.UInt32).U32(0).ToArray(),
                "metadata 'general.alignment'", 53, "got 0");
        Refused(new RawGguf().Header(0, 1).Kv(GgufLayout.AlignmentKey, GgufValueType.UInt64).U64(64).ToArray(),
                "metadata 'general.alignment'", 49, "expected type UInt32, got UInt64");
    }

    [Fact]
    public void TensorInfo_Checks()
    {
        Refused(new RawGguf().Header(2, 0).Tensor("w", GgmlType.F32, 0, 4).Tensor("w", GgmlType.F32, 32, 4).PadTo(32).Zeros(64).ToArray(),
                "tensor 1 name", 57, "duplicate tensor name 'w' (first is tensor 0)");
        Refused(OneTensorHeader().Tensor("w", GgmlType.F32, 0).Zeros(64).ToArray(), "tensor 0 'w' n_dims", 33, "expected 1 to 4, got 0");
        Refused(OneTensorHeader().Tensor("w", GgmlType.F32, 0, 1, 1, 1, 1, 1).Zeros(64).ToArray(), "tensor 0 'w' n_dims", 33, "got 5");
        Refused(OneTensorHeader().Tensor("w", GgmlType.F32, 0, 4, -2).Zeros(64).ToArray(), "tensor 0 'w' ne[1]", 45, "expected a size >= 0, got -2");
        Refused(OneTensorHeader().Tensor("w", (GgmlType)4, 0, 4).Zeros(64).ToArray(), "tensor 0 'w' type", 45, "expected a known ggml tensor type, got 4");
        Refused(OneTensorHeader().Tensor("w", (GgmlType)(-1), 0, 4).Zeros(64).ToArray(), "tensor 0 'w' type", 45, "got 4294967295");
        Refused(OneTensorHeader().Tensor("w", GgmlType.Q8_0, 0, 48, 2).Zeros(64).ToArray(), "tensor 0 'w' shape", 37, "multiple of Q8_0's block size 32, got 48");
        Refused(OneTensorHeader().Tensor("w", GgmlType.F32, 0, 1L << 32, 1L << 32).Zeros(64).ToArray(), "tensor 0 'w' shape", 37, "overflows");
        Refused(OneTensorHeader().Tensor("w", GgmlType.F32, 0, 1L << 31, 1L << 31, 4).Zeros(64).ToArray(), "tensor 0 'w' shape", 37, "overflows");
    }

    [Fact]
    public void Offsets_AlignedInBoundsAndDisjoint()
    {
        var misaligned = new RawGguf().Header(13, 0);
        for (int i = 0; i < 12; i++) misaligned.Tensor($"t{i}", GgmlType.F32, (ulong)(32 * i), 8);
        long at = misaligned.Position + 8 + "blk.0.attn_q.weight".Length + 4 + 8 + 4;
        misaligned.Tensor("blk.0.attn_q.weight", GgmlType.F32, 17, 8).PadTo(32).Zeros(32 * 14);
        var e = Refused(misaligned.ToArray(), "tensor 12 'blk.0.attn_q.weight' offset", at, "expected a multiple of 32, got 17");
        Assert.Equal($"{e.File}: tensor 12 'blk.0.attn_q.weight' offset at byte {at}: expected a multiple of 32, got 17", e.Message);

        Refused(OneTensorHeader().Tensor("w", GgmlType.F32, 0, 8).PadTo(32).Zeros(31).ToArray(), "tensor 0 'w' offset", 49, "runs past the file's end");
        Refused(OneTensorHeader().Tensor("w", GgmlType.F32, 1UL << 62, 8).PadTo(32).Zeros(32).ToArray(), "tensor 0 'w' offset", 49, "runs past");
        Refused(OneTensorHeader().Tensor("w", GgmlType.F32, 1UL << 63, 8).PadTo(32).Zeros(32).ToArray(), "tensor 0 'w' offset", 49, "below 2^63");
        Refused(OneTensorHeader().Tensor("w", GgmlType.F32, 0, 8).ToArray(), "tensor 0 'w' offset", 49, "runs past"); // header ends, no data section
        Refused(new RawGguf().Header(2, 0).Tensor("a", GgmlType.F32, 0, 16).Tensor("b", GgmlType.F32, 32, 8).PadTo(32).Zeros(64).ToArray(),
                "tensor 1 'b' offset", 82, "overlap tensor 0 'a' at [0, 64)");
    }

    [Fact]
    public void ValidHandBuiltFile_Parses()
    {
        // The raw builder is right about the format: the same bytes with sane values are read.
        string path = _dir.File("ok.gguf");
        File.WriteAllBytes(path, new RawGguf().Header(2, 1).Kv("k", GgufValueType.Bool).Bytes(1)
            .Tensor("a", GgmlType.F32, 0, 8).Tensor("b", GgmlType.Q8_0, 32, 32, 1).PadTo(32).Zeros(32 + 34).ToArray());
        using var r = GgufReader.Open(path);
        Assert.True(r.Metadata.GetBool("k"));
        Assert.Equal(["a", "b"], r.Tensors.Select(t => t.Name));
        Assert.Equal(34, r.Tensor("b").ByteSize);
    }
}
