using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Tokenizers;
using K = LlamaAdapter.Core.Tokenizers.GgufTokenizerKeys;

namespace LlamaAdapter.Tests.Tokenizers;

/// <summary>The llama.cpp SPM algorithm on small hand-made vocabularies, where every id can be worked out by hand.</summary>
public class LlamaVocabTokenizerTests
{
    // ids: 0 <unk>, 1 <s>, 2 </s>, 3..258 <0x00>..<0xFF>, then the pieces below in order (id 259 + index)
    private static GgufMetadata Vocab(params (string Piece, float Score, LlamaTokenType Type)[] pieces)
    {
        var tokens = new List<string> { "<unk>", "<s>", "</s>" };
        var scores = new List<float> { 0, 0, 0 };
        var types = new List<int> { 2, 3, 3 };
        for (int b = 0; b < 256; b++) { tokens.Add($"<0x{b:X2}>"); scores.Add(0); types.Add(6); }
        foreach (var (p, s, t) in pieces) { tokens.Add(p); scores.Add(s); types.Add((int)t); }
        var md = new GgufMetadata { Source = "test.gguf" };
        md.Set(K.Model, GgufValue.Of("llama"));
        md.Set(K.Tokens, GgufValue.Array(tokens.ToArray()));
        md.Set(K.Scores, GgufValue.Array(scores.ToArray()));
        md.Set(K.TokenType, GgufValue.Array(types.ToArray()));
        return md;
    }

    private const LlamaTokenType N = LlamaTokenType.Normal;
    private static int Byte(int b) => 3 + b;

    [Fact]
    public void Merges_HighestScoreFirst()
    {
        // 259 ▁, 260 a, 261 b, 262 c, 263 ab, 264 bc, 265 abc
        var tok = LlamaVocabTokenizer.FromGguf(Vocab(("▁", -1, N), ("a", -2, N), ("b", -3, N), ("c", -4, N), ("ab", -5, N), ("bc", -6, N), ("abc", -7, N)));
        // "▁abc": pairs ▁a (absent), ab (-5), bc (-6): ab merges first (had bc gone first, abc could not form), then ab+c
        Assert.Equal([259, 265], tok.Encode("abc", false, false));
        Assert.Equal([1, 259, 265, 2], tok.Encode("abc", true, true));
    }

    [Fact]
    public void EqualScores_MergeTheLeftmostPairFirst()
    {
        // "aaa": the pairs (a,a) at 0-1 and at 1-2 tie; the leftmost merges: aa + a, never a + aa
        var tok = LlamaVocabTokenizer.FromGguf(Vocab(("▁", -1, N), ("a", -2, N), ("aa", -3, N)));
        Assert.Equal([259, 261, 260], tok.Encode("aaa", false, false));
        Assert.Equal([259, 260, 261], tok.WithRightmostTieBreak().Encode("aaa", false, false));
    }

    [Fact]
    public void SpacesBecomeU2581_AndOnlyTheTextStartGetsThePrefix()
    {
        var tok = LlamaVocabTokenizer.FromGguf(Vocab(("▁", -1, N), ("a", -2, N), ("▁a", -3, N), ("▁▁", -4, N)));
        // 259 ▁, 260 a, 261 ▁a, 262 ▁▁
        Assert.Equal([261, 261], tok.Encode("a a", false, false));
        Assert.Equal([259, 261], tok.Encode(" a", false, false));   // "▁▁a": ▁a (-3) beats ▁▁ (-4)
        Assert.Equal([262, 259], tok.Encode("  ", false, false));   // "▁▁▁": the two ▁▁ pairs tie, the leftmost wins
        Assert.Empty(tok.Encode("", false, false));                 // no text, no prefix
        Assert.Equal([1], tok.Encode("", true, false));
    }

    [Fact]
    public void UnknownCharacters_FallBackToUtf8ByteTokens()
    {
        var tok = LlamaVocabTokenizer.FromGguf(Vocab(("▁", -1, N), ("a", -2, N)));
        Assert.Equal([259, 260, Byte(0xC3), Byte(0xA9), Byte(0xF0), Byte(0x9F), Byte(0x98), Byte(0x80)], tok.Encode("aé😀", false, false));
        Assert.Equal("aé😀", tok.Decode(tok.Encode("aé😀", true, true)));
    }

    [Fact]
    public void WithoutByteTokens_UnknownCharactersBecomeUnk()
    {
        var md = new GgufMetadata();
        md.Set(K.Model, GgufValue.Of("llama"));
        md.Set(K.Tokens, GgufValue.Array(new[] { "<unk>", "<s>", "</s>", "▁", "a" }));
        md.Set(K.TokenType, GgufValue.Array(new[] { 2, 3, 3, 1, 1 }));
        var tok = LlamaVocabTokenizer.FromGguf(md);
        Assert.Equal([3, 4, 0, 0], tok.Encode("aé", false, false)); // é is two UTF-8 bytes: two <unk>
        Assert.Equal("a", tok.Decode([3, 4, 0, 0]));               // unknown renders as nothing (token_to_piece, special = false)
    }

    [Fact]
    public void UserDefinedTokens_AreCutOutFirst_AndTheFollowingTextGetsASpacePrefix()
    {
        var tok = LlamaVocabTokenizer.FromGguf(Vocab(("▁", -1, N), ("a", -2, N), ("▁a", -3, N), ("<sep>", 0, LlamaTokenType.UserDefined), ("<sep><sep>", 0, LlamaTokenType.UserDefined)));
        // 262 <sep>, 263 <sep><sep> (longest first)
        Assert.Equal([261, 262, 261], tok.Encode("a<sep>a", false, false));
        Assert.Equal([261, 263, 262, 261], tok.Encode("a<sep><sep><sep>a", false, false));
        Assert.Equal([262], tok.Encode("<sep>", false, false));
        Assert.Equal("a<sep> a", tok.Decode([261, 262, 261]));
    }

    [Fact]
    public void ControlTokenText_IsPlainText()
    {
        var tok = LlamaVocabTokenizer.FromGguf(Vocab(("▁", -1, N), ("<", -2, N), ("s", -3, N), (">", -4, N)));
        Assert.Equal([259, 260, 261, 262], tok.Encode("<s>", false, false));
    }

    [Fact]
    public void PieceText_AndDecode_FollowTokenToPiece()
    {
        var tok = LlamaVocabTokenizer.FromGguf(Vocab(("▁", -1, N), ("▁hi", -2, N), ("x", -3, LlamaTokenType.Unused)));
        Assert.Equal(" hi", tok.PieceText(260));
        Assert.Equal("", tok.PieceText(1));
        Assert.Equal("", tok.PieceText(261)); // unused
        Assert.Equal("A", tok.PieceText(Byte(0x41)));
        Assert.Equal("\uFFFD", tok.PieceText(Byte(0xC3))); // half a character
        Assert.Equal("hi hi", tok.Decode([260, 260]));
        Assert.Equal("hi", tok.Decode([1, 260, 2]));         // the strip goes to the first piece that renders
        Assert.Equal(" hi", tok.Decode([259, 260]));          // "▁" + "▁hi": only one space is the prefix
        Assert.Equal("é", tok.Decode([Byte(0xC3), Byte(0xA9)]));
    }

    public static TheoryData<string, Action<GgufMetadata>, string> BadMetadata() => new()
    {
        { "gpt2", md => md.Set(K.Model, GgufValue.Of("gpt2")), "tokenizer.ggml.model = \"gpt2\", expected \"llama\"" },
        { "no model", md => md.Remove(K.Model), "'tokenizer.ggml.model' is missing" },
        { "no tokens", md => md.Remove(K.Tokens), "'tokenizer.ggml.tokens' is missing" },
        { "tokens not strings", md => md.Set(K.Tokens, GgufValue.Array(new[] { 1, 2 })), "tokenizer.ggml.tokens" },
        { "short scores", md => md.Set(K.Scores, GgufValue.Array(new[] { 1f })), "scores has 1 entries, expected at least 260" },
        { "scores as strings", md => md.Set(K.Scores, GgufValue.Array(new[] { "a" })), "expected an array of float32" },
        { "short types", md => md.Set(K.TokenType, GgufValue.Array(new[] { 1 })), "token_type has 1 entries" },
        { "types as floats", md => md.Set(K.TokenType, GgufValue.Array(new[] { 1f })), "expected an array of int32" },
        { "bos out of range", md => md.Set(K.BosId, GgufValue.Of(260u)), "bos_token_id = 260, expected a token id in 0..259" },
        { "eos as string", md => md.Set(K.EosId, GgufValue.Of("2")), "eos_token_id is a String" },
        { "add_bos as int", md => md.Set(K.AddBos, GgufValue.Of(1)), "add_bos_token is a Int32, expected a bool" },
        { "duplicate", md => md.Set(K.Tokens, GgufValue.Array(md.GetArray<string>(K.Tokens).Select((t, i) => i == 259 ? "<s>" : t).ToArray())), "duplicates token 1" },
        { "bad byte text", md => md.Set(K.Tokens, GgufValue.Array(md.GetArray<string>(K.Tokens).Select((t, i) => i == 3 ? "<0xZZ>" : t).ToArray())), "has type BYTE, expected its text to be <0xXX>" },
    };

    [Theory]
    [MemberData(nameof(BadMetadata))]
    public void BadMetadata_IsBadInputNamingTheKey(string why, Action<GgufMetadata> corrupt, string expected)
    {
        var md = Vocab(("▁", -1, N));
        corrupt(md);
        var e = Assert.ThrowsAny<BadInputException>(() => LlamaVocabTokenizer.FromGguf(md));
        Assert.Contains(expected, e.Message);
        Assert.False(string.IsNullOrEmpty(why));
    }

    [Fact]
    public void EmptyToken_GetsLlamaCppsPlaceholder()
    {
        var md = Vocab(("▁", -1, N), ("", -2, N));
        var tok = LlamaVocabTokenizer.FromGguf(md);
        Assert.Equal("[EMPTY_260]", tok.TokenText(260));
    }

    [Fact]
    public void OutOfRangeIds_AreRefused()
    {
        var tok = LlamaVocabTokenizer.FromGguf(Vocab(("▁", -1, N)));
        Assert.Throws<ArgumentOutOfRangeException>(() => tok.Decode([260]));
        Assert.Throws<ArgumentOutOfRangeException>(() => tok.PieceText(-1));
    }
}
