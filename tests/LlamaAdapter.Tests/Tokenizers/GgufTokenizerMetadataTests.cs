using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Tests.Support;
using K = LlamaAdapter.Core.Tokenizers.GgufTokenizerKeys;

namespace LlamaAdapter.Tests.Tokenizers;

public class GgufTokenizerMetadataTests
{
    [SharedDataFact(SharedTokenizers.ModelFile)]
    public void FromLlamaTokenizerModel_WritesTheConverterKeys()
    {
        var model = SharedTokenizers.Model;
        var md = GgufTokenizerMetadata.FromSentencePiece(model);
        Assert.Equal([K.Model, K.Pre, K.Tokens, K.Scores, K.TokenType, K.BosId, K.EosId, K.UnknownId, K.AddBos, K.AddEos], md.Keys.ToArray());
        Assert.Equal(GgufValue.Of("llama"), md[K.Model]);
        Assert.Equal(GgufValue.Of("default"), md[K.Pre]);
        Assert.Equal(GgufValueType.String, md[K.Tokens].ElementType);
        Assert.Equal(GgufValueType.Float32, md[K.Scores].ElementType);
        Assert.Equal(GgufValueType.Int32, md[K.TokenType].ElementType);
        Assert.Equal(model.Pieces.Select(p => p.Piece), md.GetArray<string>(K.Tokens));
        Assert.Equal(model.Pieces.Select(p => p.Score), md.GetArray<float>(K.Scores));
        int[] types = md.GetArray<int>(K.TokenType);
        Assert.Equal([2, 3, 3], types[..3]);
        Assert.All(types[3..259], t => Assert.Equal((int)LlamaTokenType.Byte, t));
        Assert.All(types[259..], t => Assert.Equal((int)LlamaTokenType.Normal, t));
        Assert.Equal(GgufValue.Of(1u), md[K.BosId]);
        Assert.Equal(GgufValue.Of(2u), md[K.EosId]);
        Assert.Equal(GgufValue.Of(0u), md[K.UnknownId]);
        Assert.Equal(GgufValue.Of(true), md[K.AddBos]);
        Assert.Equal(GgufValue.Of(false), md[K.AddEos]);
    }

    private static SentencePieceModel Synthetic(SentencePieceModelType type = SentencePieceModelType.Bpe, bool dummyPrefix = true, int pad = -1) => new()
    {
        Pieces = [new("<unk>", 0, SentencePieceType.Unknown), new("<s>", 0, SentencePieceType.Control), new("</s>", 0, SentencePieceType.Control),
                  new("<pad>", 0, SentencePieceType.Control), new("<sep>", 0, SentencePieceType.UserDefined), new("x", -1, SentencePieceType.Unused),
                  new("▁a", -2, SentencePieceType.Normal)],
        TrainerSpec = new(type, UnkId: 0, BosId: 1, EosId: 2, PadId: pad, ByteFallback: false),
        NormalizerSpec = new(AddDummyPrefix: dummyPrefix),
        Source = "syn.model",
    };

    [Fact]
    public void TokenTypes_FollowTheConverter_UserDefinedBecomesNormal()
    {
        var md = GgufTokenizerMetadata.FromSentencePiece(Synthetic(pad: 3));
        Assert.Equal([2, 3, 3, 3, 1, 5, 1], md.GetArray<int>(K.TokenType));
        Assert.Equal(GgufValue.Of(3u), md[K.PaddingId]);
        Assert.False(md.ContainsKey(K.AddSpacePrefix));
    }

    [Fact]
    public void NoDummyPrefix_IsWrittenAsAddSpacePrefixFalse()
    {
        var md = GgufTokenizerMetadata.FromSentencePiece(Synthetic(dummyPrefix: false));
        Assert.Equal(GgufValue.Of(false), md[K.AddSpacePrefix]);
        Assert.False(LlamaVocabTokenizer.FromGguf(md).AddSpacePrefix);
    }

    [Fact]
    public void UnigramModel_IsRefused()
    {
        var e = Assert.Throws<BadInputException>(() => GgufTokenizerMetadata.FromSentencePiece(Synthetic(SentencePieceModelType.Unigram)));
        Assert.Contains("syn.model", e.Message);
        Assert.Contains("model_type is UNIGRAM, expected BPE", e.Message);
    }
}
