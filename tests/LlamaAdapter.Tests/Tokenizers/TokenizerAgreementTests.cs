using CsCheck;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Tests.Support;

namespace LlamaAdapter.Tests.Tokenizers;

/// <summary>
/// Our llama.cpp-style tokenizer (built from the GGUF metadata of tokenizer.model) against SentencePiece through
/// Microsoft.ML.Tokenizers, on the LLaMA-2 vocabulary: same ids, and decoding gives the text back.
/// </summary>
public class TokenizerAgreementTests
{
    private const string Model = SharedTokenizers.ModelFile;
    private const string Csv = SharedTokenizers.TruthfulQaFile;

    [SharedDataFact(Model, Csv)]
    public void TruthfulQa_BothTokenizersGiveTheSameIds_WithAndWithoutBosEos()
    {
        var spm = SharedTokenizers.Spm;
        var llama = SharedTokenizers.Llama;
        var texts = SharedTokenizers.TruthfulQaTexts;
        Assert.True(texts.Count > 5000, $"expected the 817 TruthfulQA rows to give > 5000 texts, got {texts.Count}");
        var mismatches = new List<string>();
        foreach (var text in texts)
            foreach (var (bos, eos) in new[] { (false, false), (true, false), (false, true), (true, true) })
            {
                var a = spm.Encode(text, bos, eos);
                var b = llama.Encode(text, bos, eos);
                if (!a.SequenceEqual(b)) mismatches.Add($"bos={bos} eos={eos} '{text}': spm [{string.Join(",", a)}] llama [{string.Join(",", b)}]");
            }
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} mismatches, first: {string.Join("\n", mismatches.Take(5))}");
    }

    [SharedDataFact(Model, Csv)]
    public void TruthfulQa_DecodeOfEncode_IsTheText()
    {
        foreach (ITokenizer tok in new ITokenizer[] { SharedTokenizers.Spm, SharedTokenizers.Llama })
            foreach (var text in SharedTokenizers.TruthfulQaTexts)
            {
                Assert.Equal(text, tok.Decode(tok.Encode(text, addBos: false, addEos: false)));
                Assert.Equal(text, tok.Decode(tok.Encode(text, addBos: true, addEos: true)));
            }
    }

    // Ids checked against the LLaMA-2 vocabulary's pieces (the piece texts are asserted too, so a wrong id fails).
    [SharedDataFact(Model)]
    public void KnownStrings_GiveKnownIds()
    {
        var llama = SharedTokenizers.Llama;
        AssertIds("Hello world", [15043, 3186], ["▁Hello", "▁world"]);
        AssertIds("Hello", [15043], ["▁Hello"]);
        AssertIds(" Hello", [29871, 15043], ["▁", "▁Hello"]);
        AssertIds("\n", [29871, 13], ["▁", "<0x0A>"]);
        AssertIds("", [], []);
        Assert.Equal([1], llama.Encode("", addBos: true, addEos: false));
        Assert.Equal([1, 2], llama.Encode("", addBos: true, addEos: true));
        Assert.Equal([1, 15043, 3186, 2], llama.Encode("Hello world", addBos: true, addEos: true));
        Assert.Equal((1, 2, 0), (llama.BosId, llama.EosId, llama.UnkId));

        void AssertIds(string text, int[] ids, string[] pieces)
        {
            Assert.Equal(ids, llama.Encode(text, addBos: false, addEos: false));
            Assert.Equal(ids, SharedTokenizers.Spm.Encode(text, addBos: false, addEos: false));
            Assert.Equal(pieces, ids.Select(llama.TokenText).ToArray());
        }
    }

    public static TheoryData<string> EdgeCases() => new()
    {
        "", " ", "  ", "   ", "\n", "\n\n", "\t", "\r\n", " leading", "trailing ", "two  spaces", "  both  ",
        "😀", "emoji 😀 in text", "👩‍👩‍👧", "日本語のテキスト", "中文", "한국어", "Ελληνικά", "עברית", "\u0000", "\u0001\u0002",
        "\u007f", "\u00a0", "\u200b", "a\u0301", "ﬁ", "<s>", "</s>", "<unk>", "<0x41>", "▁", "▁▁x", "A\uFFFDB",
        "Zürich, São Paulo, Kraków", "x² + y² = z²", "∀x∈ℝ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "😀😀😀😀😀😀😀😀",
    };

    [SharedDataTheory(Model)]
    [MemberData(nameof(EdgeCases))]
    public void EdgeCases_AgreeAndRoundTrip(string text)
    {
        var spm = SharedTokenizers.Spm;
        var llama = SharedTokenizers.Llama;
        var a = spm.Encode(text, addBos: true, addEos: false);
        var b = llama.Encode(text, addBos: true, addEos: false);
        Assert.Equal(a, b);
        if (!text.Contains('\u2581')) // a literal U+2581 is a space to SentencePiece and comes back as ' '
        {
            Assert.Equal(text, llama.Decode(b));
            Assert.Equal(text, spm.Decode(a));
        }
        Assert.DoesNotContain(llama.UnkId, b); // byte fallback covers every character
    }

    [SharedDataFact(Model)]
    public void Emoji_FallsBackToUtf8Bytes()
    {
        var llama = SharedTokenizers.Llama;
        var ids = llama.Encode("😀", addBos: false, addEos: false);
        // "▁" then F0 9F 98 80 as <0xXX> tokens (byte tokens are ids 3 + byte value)
        Assert.Equal([29871, 3 + 0xF0, 3 + 0x9F, 3 + 0x98, 3 + 0x80], ids);
        Assert.Equal(["▁", "<0xF0>", "<0x9F>", "<0x98>", "<0x80>"], ids.Select(llama.TokenText).ToArray());
        Assert.All(ids.Skip(1), id => Assert.Equal(LlamaTokenType.Byte, llama.TokenType(id)));
    }

    [SharedDataFact(Model)]
    public void LoneSurrogate_IsEncodedAsReplacementCharacter()
    {
        var llama = SharedTokenizers.Llama;
        var expected = llama.Encode("a\uFFFDb", false, false);
        Assert.Contains(expected, id => llama.TokenText(id) == "\uFFFD"); // U+FFFD is a piece of the LLaMA vocabulary
        Assert.Equal(expected, llama.Encode("a\uD800b", false, false));
        Assert.Equal(expected, llama.Encode("a\uDC00b", false, false));
        Assert.Equal(expected, SharedTokenizers.Spm.Encode("a\uD800b", false, false));
    }

    [SharedDataFact(Model)]
    public void PieceText_RendersPiecesAsLlamaCpp()
    {
        var llama = SharedTokenizers.Llama;
        Assert.Equal(" Hello", llama.PieceText(15043));
        Assert.Equal("", llama.PieceText(1));      // <s>: control
        Assert.Equal("", llama.PieceText(2));      // </s>: control
        Assert.Equal("", llama.PieceText(0));      // <unk>: unknown
        Assert.Equal("\n", llama.PieceText(13));   // <0x0A>: byte
        Assert.Equal([0xF0], llama.PieceBytes(3 + 0xF0).ToArray());
        Assert.Equal(" Hello", SharedTokenizers.Spm.PieceText(15043));
        Assert.Equal("\n", SharedTokenizers.Spm.PieceText(13));
    }

    [SharedDataFact(Model)]
    public void Decode_RemovesOnlyTheDummyPrefixSpace()
    {
        var llama = SharedTokenizers.Llama;
        Assert.Equal("Hello world", llama.Decode([15043, 3186]));
        Assert.Equal("Hello world", llama.Decode([1, 15043, 3186, 2]));
        Assert.Equal(" Hello", llama.Decode([29871, 15043]));
        Assert.Equal("Hello world", SharedTokenizers.Spm.Decode([1, 15043, 3186, 2]));
        // control and unknown ids anywhere, a lone byte of a multi-byte character: both render them alike
        foreach (int[] ids in new int[][] { [0], [15043, 0, 3186], [1, 0, 15043], [15043, 1, 3186], [2, 15043], [3 + 0xC3], [29871, 15043] })
            Assert.Equal(SharedTokenizers.Spm.Decode(ids), llama.Decode(ids));
        Assert.Throws<ArgumentOutOfRangeException>(() => llama.Decode([32000]));
        Assert.Throws<ArgumentOutOfRangeException>(() => SharedTokenizers.Spm.Decode([-1]));
    }

    [SharedDataFact(Model)]
    public void TiesBetweenOverlappingPairs_MergeLeftmostFirst_AsSentencePieceAndLlamaCpp()
    {
        var llama = SharedTokenizers.Llama;
        // "ff" + "ff" overlap in "fff": both pairs have the score of "ff"; the leftmost merges first, so "eff" can form.
        var ids = llama.Encode("cefff", addBos: false, addEos: false);
        var pieces = ids.Select(llama.TokenText).ToArray();
        var mlPieces = SharedTokenizers.Spm.Encode("cefff", false, false).Select(llama.TokenText).ToArray();
        Assert.Equal(string.Concat(pieces), string.Concat(mlPieces)); // same text either way
        Assert.NotEqual(pieces, mlPieces);                              // ML.Tokenizers 2.0.1 merges the rightmost pair first
        Assert.Equal(mlPieces, llama.WithRightmostTieBreak().Encode("cefff", false, false).Select(llama.TokenText).ToArray());
    }

    /// <summary>The generator: ASCII, Latin, general BMP and astral characters, controls, spaces, newlines and runs of a repeated character (ties).</summary>
    internal static Gen<string> RandomText()
    {
        // Surrogates are not generated alone: an astral code point is one generated "character" (a pair).
        var ch = Gen.Frequency(
            (6, Gen.Char['a', 'z'].Select(c => c.ToString())),
            (3, Gen.Const(" ")),
            (1, Gen.Const("\n")),
            (2, Gen.Char[' ', '~'].Select(c => c.ToString())),
            (2, Gen.Char['\u00a0', '\u024f'].Select(c => c.ToString())),
            (2, Gen.Int[0x0370, 0xD7FF].Select(cp => char.ConvertFromUtf32(cp))),
            (1, Gen.Int[0xE000, 0xFFFD].Select(cp => char.ConvertFromUtf32(cp))),
            (1, Gen.Int[0x10000, 0x10FFFF].Select(cp => char.ConvertFromUtf32(cp))),
            (1, Gen.Int[0, 0x1f].Select(cp => char.ConvertFromUtf32(cp))),
            (2, Gen.Select(Gen.OneOf('f', 'e', 'l', 'o', '.', '-', '=', ' ', '0'), Gen.Int[2, 7], (c, n) => new string(c, n))));
        return ch.Array[0, 40].Select(parts => string.Concat(parts));
    }

    [SharedDataFact(Model)]
    public void RandomUnicodeStrings_TokenizersAgree_UpToMlTokenizersTieOrder_AndRoundTrip()
    {
        var spm = SharedTokenizers.Spm;
        var llama = SharedTokenizers.Llama;
        var mlOrder = llama.WithRightmostTieBreak();
        int differ = 0;
        RandomText().Sample(s =>
        {
            var a = spm.Encode(s, addBos: true, addEos: false);
            var b = llama.Encode(s, addBos: true, addEos: false);
            if (!a.SequenceEqual(b)) Interlocked.Increment(ref differ);
            return a.SequenceEqual(mlOrder.Encode(s, addBos: true, addEos: false))
                && (s.Contains('\u2581') || llama.Decode(b) == s)
                && spm.Decode(a) == llama.Decode(b);
        }, iter: 3000);
        Assert.True(differ > 0, "the generator should produce tie cases (repeated characters) where the two orders differ");
    }
}
