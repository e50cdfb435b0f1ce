using LlamaAdapter.Core.Formats.Gguf;

namespace LlamaAdapter.Core.Tokenizers;

/// <summary>llama.cpp's <c>enum llama_token_type</c>, as stored in <c>tokenizer.ggml.token_type</c>.</summary>
public enum LlamaTokenType
{
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>The <c>tokenizer.ggml.*</c> metadata keys llama.cpp reads for a SentencePiece ("llama") vocabulary.</summary>
public static class GgufTokenizerKeys
{
    public const string Model = "tokenizer.ggml.model";
    public const string Pre = "tokenizer.ggml.pre";
    public const string Tokens = "tokenizer.ggml.tokens";
    public const string Scores = "tokenizer.ggml.scores";
    public const string TokenType = "tokenizer.ggml.token_type";
    public const string BosId = "tokenizer.ggml.bos_token_id";
    public const string EosId = "tokenizer.ggml.eos_token_id";
    public const string UnknownId = "tokenizer.ggml.unknown_token_id";
    public const string PaddingId = "tokenizer.ggml.padding_token_id";
    public const string AddBos = "tokenizer.ggml.add_bos_token";
    public const string AddEos = "tokenizer.ggml.add_eos_token";
    public const string AddSpacePrefix = "tokenizer.ggml.add_space_prefix";

    /// <summary>The value of <see cref="Model"/> for SentencePiece BPE vocabularies (LLaMA 1/2).</summary>
    public const string SentencePieceModel = "llama";
}

public static class GgufTokenizerMetadata
{
    /// <summary>
    /// The tokenizer keys llama.cpp's convert_hf_to_gguf.py writes for a LLaMA model from its tokenizer.model
    /// (<c>_set_vocab_sentencepiece</c> plus <c>gguf.SpecialVocab</c>), in its order and with its GGUF types:
    /// model "llama", pre "default", tokens (string[]), scores (float32[]), token_type (int32[]), the special ids
    /// (uint32), then add_bos_token / add_eos_token (bool).
    /// </summary>
    /// <remarks>
    /// Token types follow the converter: UNKNOWN, CONTROL, UNUSED and BYTE pieces keep their type and every other
    /// piece (USER_DEFINED included) becomes NORMAL. The special ids come from the trainer spec (the converter reads
    /// them from the HF config files, which hold the same ids for LLaMA); padding is written only when the model
    /// has one (LLaMA's pad_id is -1). add_bos_token = true and add_eos_token = false are LLaMA's
    /// tokenizer_config.json values. add_space_prefix is omitted when true (the converter omits it for LLaMA and
    /// llama.cpp's SPM default is true) and written as false when the model has no dummy prefix, which llama.cpp
    /// could not otherwise know.
    /// </remarks>
    public static GgufMetadata FromSentencePiece(SentencePieceModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.TrainerSpec.ModelType != SentencePieceModelType.Bpe)
            throw new BadInputException($"{model.Source}: trainer_spec.model_type is {model.TrainerSpec.ModelType.ToString().ToUpperInvariant()}, " +
                                        "expected BPE: llama.cpp's \"llama\" tokenizer merges pieces by score, which is SentencePiece BPE");
        if (!model.NormalizerSpec.EscapeWhitespaces)
            throw new BadInputException($"{model.Source}: normalizer_spec.escape_whitespaces is false, expected true: llama.cpp's \"llama\" tokenizer always maps ' ' to U+2581");

        int n = model.VocabSize;
        var tokens = new string[n];
        var scores = new float[n];
        var types = new int[n];
        for (int i = 0; i < n; i++)
        {
            var p = model.Pieces[i];
            tokens[i] = p.Piece;
            scores[i] = p.Score;
            types[i] = (int)(p.Type switch
            {
                SentencePieceType.Unknown => LlamaTokenType.Unknown,
                SentencePieceType.Control => LlamaTokenType.Control,
                SentencePieceType.Unused => LlamaTokenType.Unused,
                SentencePieceType.Byte => LlamaTokenType.Byte,
                _ => LlamaTokenType.Normal,
            });
        }

        var md = new GgufMetadata { Source = model.Source };
        md.Set(GgufTokenizerKeys.Model, GgufValue.Of(GgufTokenizerKeys.SentencePieceModel));
        md.Set(GgufTokenizerKeys.Pre, GgufValue.Of("default"));
        md.Set(GgufTokenizerKeys.Tokens, GgufValue.Array(tokens));
        md.Set(GgufTokenizerKeys.Scores, GgufValue.Array(scores));
        md.Set(GgufTokenizerKeys.TokenType, GgufValue.Array(types));
        var spec = model.TrainerSpec;
        if (spec.BosId >= 0) md.Set(GgufTokenizerKeys.BosId, GgufValue.Of((uint)spec.BosId));
        if (spec.EosId >= 0) md.Set(GgufTokenizerKeys.EosId, GgufValue.Of((uint)spec.EosId));
        md.Set(GgufTokenizerKeys.UnknownId, GgufValue.Of((uint)spec.UnkId));
        if (spec.PadId >= 0) md.Set(GgufTokenizerKeys.PaddingId, GgufValue.Of((uint)spec.PadId));
        md.Set(GgufTokenizerKeys.AddBos, GgufValue.Of(spec.BosId >= 0));
        md.Set(GgufTokenizerKeys.AddEos, GgufValue.Of(false));
        if (!model.NormalizerSpec.AddDummyPrefix) md.Set(GgufTokenizerKeys.AddSpacePrefix, GgufValue.Of(false));
        return md;
    }
}
