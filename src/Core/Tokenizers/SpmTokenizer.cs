using Microsoft.ML.Tokenizers;

namespace LlamaAdapter.Core.Tokenizers;

/// <summary>
/// The SentencePiece tokenizer of a <c>tokenizer.model</c> through Microsoft.ML.Tokenizers (its
/// <see cref="LlamaTokenizer"/>), as the reference code's <c>Tokenizer.encode(s, bos, eos)</c> uses SentencePiece.
/// The file is first read by <see cref="SentencePieceModel"/>, which validates it and supplies the ids.
/// </summary>
/// <remarks>
/// BOS/EOS are added here, not by ML.Tokenizers: it returns [] for an empty text even when asked for BOS, where
/// SentencePiece and llama.cpp give [BOS]. Text that spells a special token ("&lt;s&gt;") is plain text, as in
/// SentencePiece and llama.cpp without parse_special.
/// Known difference (Microsoft.ML.Tokenizers 2.0.1): when two overlapping pairs have the same score — a run of
/// one repeated piece, as the two "ff" pairs in "efff" — it merges the rightmost first, where SentencePiece's
/// bpe_model.cc and llama.cpp merge the leftmost ("efff": ML.Tokenizers ▁e fff, llama.cpp ▁eff f).
/// <see cref="LlamaVocabTokenizer"/> follows llama.cpp; the tests show this tie order is the only difference.
/// </remarks>
public sealed class SpmTokenizer : ITokenizer
{
    private readonly LlamaTokenizer _inner;
    private readonly SentencePieceModel _model;

    private SpmTokenizer(LlamaTokenizer inner, SentencePieceModel model)
    {
        _inner = inner;
        _model = model;
    }

    public static SpmTokenizer Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: SentencePiece model not found", path);
        return FromBytes(File.ReadAllBytes(path), path);
    }

    public static SpmTokenizer FromBytes(byte[] modelBytes, string source)
    {
        var model = SentencePieceModel.Parse(modelBytes, source);
        if (model.TrainerSpec.ModelType != SentencePieceModelType.Bpe)
            throw new BadInputException($"{source}: trainer_spec.model_type is {model.TrainerSpec.ModelType.ToString().ToUpperInvariant()}, expected BPE (the LLaMA tokenizer)");
        LlamaTokenizer inner;
        try
        {
            using var stream = new MemoryStream(modelBytes, writable: false);
            inner = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or IOException)
        {
            throw new BadInputException($"{source}: Microsoft.ML.Tokenizers could not load the SentencePiece model: {e.Message}", e);
        }
        return new SpmTokenizer(inner, model);
    }

    public SentencePieceModel Model => _model;
    public int VocabSize => _model.VocabSize;
    public int BosId => _model.TrainerSpec.BosId;
    public int EosId => _model.TrainerSpec.EosId;
    public int UnkId => _model.TrainerSpec.UnkId;

    public int[] Encode(string text, bool addBos, bool addEos)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (addBos && BosId < 0) throw new InvalidOperationException($"{_model.Source} has no BOS token (bos_id = -1)");
        if (addEos && EosId < 0) throw new InvalidOperationException($"{_model.Source} has no EOS token (eos_id = -1)");
        // Lone surrogates: ML.Tokenizers would byte-encode them; as UTF-8 (SentencePiece's input) they are U+FFFD.
        var ids = _inner.EncodeToIds(Utf16.WithValidSurrogates(text), addBeginningOfSentence: false, addEndOfSentence: false,
                                     considerPreTokenization: true, considerNormalization: true);
        var result = new int[ids.Count + (addBos ? 1 : 0) + (addEos ? 1 : 0)];
        int k = 0;
        if (addBos) result[k++] = BosId;
        foreach (int id in ids) result[k++] = id;
        if (addEos) result[k] = EosId;
        return result;
    }

    /// <summary>SentencePiece's decoding: control tokens vanish, the dummy-prefix space of the first piece is removed.</summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        foreach (int id in ids) CheckId(id);
        return _inner.Decode(ids.ToArray(), considerSpecialTokens: false) ?? "";
    }

    /// <summary>The piece with U+2581 as ' ' (a byte piece as its byte when that is ASCII); control tokens give "".</summary>
    public string PieceText(int id)
    {
        var piece = _model.Pieces[CheckId(id)];
        return piece.Type switch
        {
            SentencePieceType.Control or SentencePieceType.Unknown or SentencePieceType.Unused => "",
            SentencePieceType.Byte => ByteText(piece.Piece),
            _ => piece.Piece.Replace('\u2581', ' '),
        };
    }

    private static string ByteText(string piece) =>
        piece.Length == 6 && byte.TryParse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte b)
            ? System.Text.Encoding.UTF8.GetString([b]) : "\uFFFD";

    private int CheckId(int id) =>
        (uint)id < (uint)VocabSize ? id : throw new ArgumentOutOfRangeException(nameof(id), id, $"token id out of range 0..{VocabSize - 1}");
}
