namespace LlamaAdapter.Core.Tokenizers;

/// <summary>ModelProto.SentencePiece.Type (numbers as in sentencepiece_model.proto; llama.cpp's token types use the same).</summary>
public enum SentencePieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>TrainerSpec.ModelType.</summary>
public enum SentencePieceModelType
{
    Unigram = 1,
    Bpe = 2,
    Word = 3,
    Char = 4,
}

public sealed record SentencePiece(string Piece, float Score, SentencePieceType Type);

/// <summary>The TrainerSpec fields that decide tokenization; absent fields take the proto's defaults.</summary>
public sealed record SentencePieceTrainerSpec(
    SentencePieceModelType ModelType = SentencePieceModelType.Unigram,
    int UnkId = 0,
    int BosId = 1,
    int EosId = 2,
    int PadId = -1,
    bool ByteFallback = false);

/// <summary>The NormalizerSpec fields that decide tokenization; absent fields take the proto's defaults.</summary>
public sealed record SentencePieceNormalizerSpec(
    string Name = "",
    bool AddDummyPrefix = true,
    bool RemoveExtraWhitespaces = true,
    bool EscapeWhitespaces = true,
    int PrecompiledCharsmapLength = 0);

/// <summary>
/// A SentencePiece <c>tokenizer.model</c> (a protobuf ModelProto), read with our own wire-format reader: the
/// pieces with their scores and types, and the trainer and normalizer settings the tokenizers need. Unknown fields
/// (self-test data, training options) are skipped. Errors name the file and the byte offset.
/// </summary>
public sealed class SentencePieceModel
{
    public required IReadOnlyList<SentencePiece> Pieces { get; init; }
    public required SentencePieceTrainerSpec TrainerSpec { get; init; }
    public required SentencePieceNormalizerSpec NormalizerSpec { get; init; }
    /// <summary>The file it was read from (for error messages).</summary>
    public required string Source { get; init; }

    public int VocabSize => Pieces.Count;

    public static SentencePieceModel Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: SentencePiece model not found", path);
        return Parse(File.ReadAllBytes(path), path);
    }

    public static SentencePieceModel Parse(ReadOnlySpan<byte> bytes, string source)
    {
        var r = new ProtobufReader(bytes, source);
        var pieces = new List<SentencePiece>();
        var pieceOffsets = new List<long>();
        var trainer = new SentencePieceTrainerSpec();
        var normalizer = new SentencePieceNormalizerSpec();
        while (r.TryReadTag(out int field, out var wire))
        {
            switch (field)
            {
                case 1:
                    r.Expect(field, wire, WireType.LengthDelimited, "pieces");
                    pieceOffsets.Add(r.Offset);
                    var pr = r.ReadMessage();
                    pieces.Add(ReadPiece(ref pr, pieces.Count));
                    break;
                case 2:
                    r.Expect(field, wire, WireType.LengthDelimited, "trainer_spec");
                    var tr = r.ReadMessage();
                    trainer = ReadTrainerSpec(ref tr);
                    break;
                case 3:
                    r.Expect(field, wire, WireType.LengthDelimited, "normalizer_spec");
                    var nr = r.ReadMessage();
                    normalizer = ReadNormalizerSpec(ref nr);
                    break;
                default:
                    r.Skip(wire); // self_test_data (4), denormalizer_spec (5), extensions
                    break;
            }
        }

        if (pieces.Count == 0) throw new BadInputException($"{source}: ModelProto has no pieces (field 1): not a SentencePiece model");
        var seen = new Dictionary<string, int>(pieces.Count, StringComparer.Ordinal);
        for (int i = 0; i < pieces.Count; i++)
            if (!seen.TryAdd(pieces[i].Piece, i))
                throw new BadInputException($"{source}: byte offset {pieceOffsets[i]}: piece {i} '{pieces[i].Piece}' duplicates piece {seen[pieces[i].Piece]} (pieces must be unique)");

        CheckId(source, "trainer_spec.unk_id", trainer.UnkId, pieces.Count, allowNone: false);
        CheckId(source, "trainer_spec.bos_id", trainer.BosId, pieces.Count, allowNone: true);
        CheckId(source, "trainer_spec.eos_id", trainer.EosId, pieces.Count, allowNone: true);
        CheckId(source, "trainer_spec.pad_id", trainer.PadId, pieces.Count, allowNone: true);
        return new SentencePieceModel { Pieces = pieces, TrainerSpec = trainer, NormalizerSpec = normalizer, Source = source };
    }

    private static SentencePiece ReadPiece(ref ProtobufReader r, int index)
    {
        long start = r.Origin;
        string? piece = null;
        float score = 0;
        var type = SentencePieceType.Normal;
        while (r.TryReadTag(out int field, out var wire))
        {
            switch (field)
            {
                case 1: r.Expect(field, wire, WireType.LengthDelimited, "piece"); piece = r.ReadString(); break;
                case 2: r.Expect(field, wire, WireType.Fixed32, "score"); score = r.ReadFloat(); break;
                case 3:
                    r.Expect(field, wire, WireType.Varint, "type");
                    long at = r.Offset;
                    int t = r.ReadInt32();
                    if (t is < 1 or > 6) throw r.Bad(at, $"piece {index}: type {t} (expected 1..6: NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE)");
                    type = (SentencePieceType)t;
                    break;
                default: r.Skip(wire); break;
            }
        }
        if (string.IsNullOrEmpty(piece)) throw r.Bad(start, $"piece {index} has an empty or missing 'piece' string (field 1)");
        return new SentencePiece(piece, score, type);
    }

    private static SentencePieceTrainerSpec ReadTrainerSpec(ref ProtobufReader r)
    {
        var spec = new SentencePieceTrainerSpec();
        while (r.TryReadTag(out int field, out var wire))
        {
            switch (field)
            {
                case 3:
                    r.Expect(field, wire, WireType.Varint, "model_type");
                    long at = r.Offset;
                    int t = r.ReadInt32();
                    if (t is < 1 or > 4) throw r.Bad(at, $"trainer_spec.model_type {t} (expected 1..4: UNIGRAM, BPE, WORD, CHAR)");
                    spec = spec with { ModelType = (SentencePieceModelType)t };
                    break;
                case 35: r.Expect(field, wire, WireType.Varint, "byte_fallback"); spec = spec with { ByteFallback = r.ReadBool() }; break;
                case 40: r.Expect(field, wire, WireType.Varint, "unk_id"); spec = spec with { UnkId = r.ReadInt32() }; break;
                case 41: r.Expect(field, wire, WireType.Varint, "bos_id"); spec = spec with { BosId = r.ReadInt32() }; break;
                case 42: r.Expect(field, wire, WireType.Varint, "eos_id"); spec = spec with { EosId = r.ReadInt32() }; break;
                case 43: r.Expect(field, wire, WireType.Varint, "pad_id"); spec = spec with { PadId = r.ReadInt32() }; break;
                default: r.Skip(wire); break;
            }
        }
        return spec;
    }

    private static SentencePieceNormalizerSpec ReadNormalizerSpec(ref ProtobufReader r)
    {
        var spec = new SentencePieceNormalizerSpec();
        while (r.TryReadTag(out int field, out var wire))
        {
            switch (field)
            {
                case 1: r.Expect(field, wire, WireType.LengthDelimited, "name"); spec = spec with { Name = r.ReadString() }; break;
                case 2: r.Expect(field, wire, WireType.LengthDelimited, "precompiled_charsmap"); spec = spec with { PrecompiledCharsmapLength = r.ReadBytes(out _).Length }; break;
                case 3: r.Expect(field, wire, WireType.Varint, "add_dummy_prefix"); spec = spec with { AddDummyPrefix = r.ReadBool() }; break;
                case 4: r.Expect(field, wire, WireType.Varint, "remove_extra_whitespaces"); spec = spec with { RemoveExtraWhitespaces = r.ReadBool() }; break;
                case 5: r.Expect(field, wire, WireType.Varint, "escape_whitespaces"); spec = spec with { EscapeWhitespaces = r.ReadBool() }; break;
                default: r.Skip(wire); break;
            }
        }
        return spec;
    }

    private static void CheckId(string source, string field, int id, int count, bool allowNone)
    {
        if ((allowNone && id == -1) || (id >= 0 && id < count)) return;
        throw new BadInputException($"{source}: {field} = {id}, expected {(allowNone ? "-1 (none) or " : "")}an id in 0..{count - 1}");
    }
}
