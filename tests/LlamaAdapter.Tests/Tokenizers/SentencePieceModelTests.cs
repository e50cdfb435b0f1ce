using CsCheck;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Tests.Support;

namespace LlamaAdapter.Tests.Tokenizers;

public class SentencePieceModelTests
{
    [SharedDataFact(SharedTokenizers.ModelFile)]
    public void LlamaTokenizerModel_ReadsPiecesAndSpecs()
    {
        var m = SharedTokenizers.Model;
        Assert.Equal(32000, m.VocabSize);
        Assert.Equal(new SentencePiece("<unk>", 0, SentencePieceType.Unknown), m.Pieces[0]);
        Assert.Equal(new SentencePiece("<s>", 0, SentencePieceType.Control), m.Pieces[1]);
        Assert.Equal(new SentencePiece("</s>", 0, SentencePieceType.Control), m.Pieces[2]);
        for (int b = 0; b < 256; b++)
            Assert.Equal(new SentencePiece($"<0x{b:X2}>", 0, SentencePieceType.Byte), m.Pieces[3 + b]);
        Assert.Equal("▁▁", m.Pieces[259].Piece);
        Assert.Equal(SentencePieceType.Normal, m.Pieces[259].Type);
        Assert.Equal("▁Hello", m.Pieces[15043].Piece);
        Assert.All(m.Pieces.Skip(259), p => Assert.Equal(SentencePieceType.Normal, p.Type));
        // BPE scores are the negated merge rank, -(id - 259); whitespace runs such as "▁▁" and "▁" have -1e9
        Assert.All(Enumerable.Range(259, 32000 - 259), i => Assert.True(m.Pieces[i].Score == -(i - 259) || m.Pieces[i].Score == -1e9f, $"score of piece {i}"));
        Assert.Equal(-14784f, m.Pieces[15043].Score);
        Assert.Equal(-1e9f, m.Pieces[29871].Score); // "▁"

        Assert.Equal(new SentencePieceTrainerSpec(SentencePieceModelType.Bpe, UnkId: 0, BosId: 1, EosId: 2, PadId: -1, ByteFallback: true), m.TrainerSpec);
        Assert.Equal("identity", m.NormalizerSpec.Name);
        Assert.True(m.NormalizerSpec.AddDummyPrefix);
        Assert.False(m.NormalizerSpec.RemoveExtraWhitespaces);
        Assert.True(m.NormalizerSpec.EscapeWhitespaces);
    }

    [Fact]
    public void SyntheticModel_ParsesFieldsAndSkipsUnknownOnes()
    {
        var bytes = new Proto()
            .Message(1, new Proto().String(1, "<unk>").Float(2, 0).Varint(3, 2))
            .Fixed64(99, 0x0102030405060708)                                  // unknown top-level fields of every wire type
            .Varint(98, 300)
            .Fixed32(97, 7)
            .Message(4, new Proto().Message(1, new Proto().String(1, "in").String(2, "out")))  // self_test_data
            .Message(1, new Proto().String(1, "▁a").Float(2, -1.5f).Varint(200, 5)) // type absent: NORMAL
            .Message(1, new Proto().String(1, "<0x41>").Varint(3, 6))
            .Message(2, new Proto().Varint(3, 2).Varint(35, 1).Varint(40, 0).Int32(41, -1).Int32(42, -1).Int32(43, -1).String(2, "prefix"))
            .Message(3, new Proto().String(1, "identity").Bytes(2, [1, 2, 3]).Varint(3, 0).Varint(4, 0))
            .ToArray();
        var m = SentencePieceModel.Parse(bytes, "t.model");
        Assert.Equal([new("<unk>", 0, SentencePieceType.Unknown), new("▁a", -1.5f, SentencePieceType.Normal), new("<0x41>", 0, SentencePieceType.Byte)], m.Pieces);
        Assert.Equal(new SentencePieceTrainerSpec(SentencePieceModelType.Bpe, 0, -1, -1, -1, true), m.TrainerSpec);
        Assert.Equal(new SentencePieceNormalizerSpec("identity", AddDummyPrefix: false, RemoveExtraWhitespaces: false, EscapeWhitespaces: true, PrecompiledCharsmapLength: 3), m.NormalizerSpec);
    }

    [Fact]
    public void AbsentSpecs_TakeTheProtoDefaults()
    {
        var m = SentencePieceModel.Parse(new Proto().Message(1, new Proto().String(1, "<unk>")).Message(1, new Proto().String(1, "a")).Message(1, new Proto().String(1, "b")).ToArray(), "t.model");
        Assert.Equal(new SentencePieceTrainerSpec(), m.TrainerSpec);
        Assert.Equal(SentencePieceModelType.Unigram, m.TrainerSpec.ModelType);
        Assert.Equal((0, 1, 2, -1), (m.TrainerSpec.UnkId, m.TrainerSpec.BosId, m.TrainerSpec.EosId, m.TrainerSpec.PadId));
        Assert.Equal(new SentencePieceNormalizerSpec(), m.NormalizerSpec);
        Assert.True(m.NormalizerSpec.AddDummyPrefix && m.NormalizerSpec.RemoveExtraWhitespaces && m.NormalizerSpec.EscapeWhitespaces);
    }

    public static TheoryData<string, byte[], string> Malformed() => new()
    {
        { "empty", [], "no pieces" },
        { "truncated varint", [0x38, 0x80], "byte offset 1" },
        { "length past the end", [0x0A, 0x05, 0x0A, 0x01], "byte offset 1" },
        { "field number 0", [0x00, 0x01], "field number 0" },
        { "group wire type", [0x0B], "wire type 3" },
        { "pieces as a varint", [0x08, 0x01], "field 1 (pieces) with wire type 0" },
        { "piece type 9", new Proto().Message(1, new Proto().String(1, "a").Varint(3, 9)).ToArray(), "type 9" },
        { "empty piece", new Proto().Message(1, new Proto().Float(2, 1)).ToArray(), "empty or missing 'piece'" },
        { "duplicate piece", new Proto().Message(1, new Proto().String(1, "a")).Message(1, new Proto().String(1, "a")).ToArray(), "duplicates piece 0" },
        { "bad utf-8", new Proto().Message(1, new Proto().Bytes(1, [0xFF, 0xFE])).ToArray(), "not valid UTF-8" },
        { "unk id out of range", new Proto().Message(1, new Proto().String(1, "a")).Message(2, new Proto().Varint(40, 5)).ToArray(), "trainer_spec.unk_id = 5" },
        { "truncated float", [0x0A, 0x04, 0x15, 0x00, 0x00, 0x80], "byte offset 3" },
        { "model type 7", new Proto().Message(1, new Proto().String(1, "a")).Message(2, new Proto().Varint(3, 7)).ToArray(), "model_type 7" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MalformedModels_AreBadInputNamingFileAndOffset(string why, byte[] bytes, string expected)
    {
        var e = Assert.Throws<BadInputException>(() => SentencePieceModel.Parse(bytes, "bad.model"));
        Assert.StartsWith("bad.model: ", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.False(string.IsNullOrEmpty(why));
    }

    [Fact]
    public void NestedMessageErrors_GiveTheAbsoluteFileOffset()
    {
        // piece 0 is fine; piece 1's type varint is cut off at the end of its message: offsets are from the file start
        var bytes = new Proto().Message(1, new Proto().String(1, "a")).Message(1, [0x0A, 0x01, (byte)'b', 0x18, 0x80]).ToArray();
        var e = Assert.Throws<BadInputException>(() => SentencePieceModel.Parse(bytes, "bad.model"));
        // piece 0 takes bytes 0..4; piece 1's payload starts at 7: 0A 01 62 (piece "b"), tag 18 at 10, the cut varint at 11
        Assert.Contains("byte offset 11", e.Message);
    }

    [Fact]
    public void MissingFile_IsFileNotFound()
    {
        var e = Assert.Throws<FileNotFoundException>(() => SentencePieceModel.Load("/nonexistent/tokenizer.model"));
        Assert.Contains("/nonexistent/tokenizer.model", e.Message);
    }
}

/// <summary>A protobuf writer for test inputs (the encoding rules, not a copy of anyone's code).</summary>
internal sealed class Proto
{
    private readonly List<byte> _b = [];

    public Proto Varint(int field, ulong v) { Tag(field, 0); Raw(v); return this; }
    public Proto Int32(int field, int v) => Varint(field, unchecked((ulong)(long)v)); // negative: ten bytes, sign-extended
    public Proto Fixed32(int field, uint v) { Tag(field, 5); _b.AddRange(BitConverter.GetBytes(v)); return this; }
    public Proto Float(int field, float v) { Tag(field, 5); _b.AddRange(BitConverter.GetBytes(v)); return this; }
    public Proto Fixed64(int field, ulong v) { Tag(field, 1); _b.AddRange(BitConverter.GetBytes(v)); return this; }
    public Proto Bytes(int field, byte[] v) { Tag(field, 2); Raw((ulong)v.Length); _b.AddRange(v); return this; }
    public Proto String(int field, string v) => Bytes(field, System.Text.Encoding.UTF8.GetBytes(v));
    public Proto Message(int field, Proto m) => Bytes(field, m.ToArray());
    public Proto Message(int field, byte[] raw) => Bytes(field, raw);
    public byte[] ToArray() => [.. _b];

    private void Tag(int field, int wire) => Raw(((ulong)field << 3) | (uint)wire);
    private void Raw(ulong v)
    {
        do { byte b = (byte)(v & 0x7F); v >>= 7; _b.Add(v != 0 ? (byte)(b | 0x80) : b); } while (v != 0);
    }
}

public class SentencePieceModelFuzzTests
{
    private static readonly byte[] Valid = new Proto()
        .Message(1, new Proto().String(1, "<unk>").Float(2, 0).Varint(3, 2))
        .Message(1, new Proto().String(1, "<s>").Varint(3, 3))
        .Message(1, new Proto().String(1, "</s>").Varint(3, 3))
        .Message(1, new Proto().String(1, "▁a").Float(2, -1))
        .Message(2, new Proto().Varint(3, 2).Varint(35, 1).Int32(43, -1))
        .Message(3, new Proto().String(1, "identity").Varint(4, 0))
        .ToArray();

    [Fact]
    public void MutatedOrTruncatedModels_ParseOrFailAsBadInput()
    {
        Assert.Equal(4, SentencePieceModel.Parse(Valid, "ok.model").VocabSize);
        var mutant = Gen.Select(Gen.Int[0, Valid.Length], Gen.Int[0, Valid.Length - 1].Array[1, 4], Gen.Byte.Array[4], (cut, at, val) =>
        {
            var b = (byte[])Valid.Clone();
            for (int i = 0; i < at.Length; i++) b[at[i]] = val[i];
            return b[..cut];
        });
        int parsed = 0, refused = 0;
        mutant.Sample(bytes =>
        {
            try { SentencePieceModel.Parse(bytes, "fuzz.model"); Interlocked.Increment(ref parsed); }
            catch (BadInputException e) { Assert.StartsWith("fuzz.model: ", e.Message); Interlocked.Increment(ref refused); }
        }, iter: 20000);
        Assert.True(parsed > 0 && refused > 0, $"parsed {parsed}, refused {refused}: the mutants should reach both outcomes");
    }
}
