using CsCheck;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Tests.Support;

namespace LlamaAdapter.Tests.Tokenizers;

/// <summary>A vocab-only GGUF written from tokenizer.model and loaded by libllama, shared by the parity tests.</summary>
public sealed class LlamaCppVocabFixture : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "llama-adapter-tok-" + Guid.NewGuid().ToString("N"));
    private LlamaCppTokenizer? _cpp;

    public string GgufPath => Path.Combine(_dir, "vocab.gguf");

    public LlamaCppTokenizer Cpp
    {
        get
        {
            if (_cpp is not null) return _cpp;
            Directory.CreateDirectory(_dir);
            VocabOnlyGguf.Write(GgufPath, VocabOnlyGguf.Metadata(SharedTokenizers.Model));
            return _cpp = LlamaCppTokenizer.Load(GgufPath);
        }
    }

    public string Dir { get { Directory.CreateDirectory(_dir); return _dir; } }

    public void Dispose()
    {
        _cpp?.Dispose();
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }
}

/// <summary>
/// Our tokenizer against llama.cpp's own (libllama, loaded with vocab_only from a GGUF our writer made from
/// tokenizer.model): the independent reference. Exact equality everywhere; the one deliberate difference (the space
/// after a leading BOS in Decode) is asserted as such.
/// </summary>
public class LlamaCppParityTests(LlamaCppVocabFixture fx, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<LlamaCppVocabFixture>
{
    private const string Model = SharedTokenizers.ModelFile;
    private const string Csv = SharedTokenizers.TruthfulQaFile;

    [SharedDataFact(Model)]
    public void Vocabulary_IsReadAsLlamaCppReadsIt()
    {
        var cpp = fx.Cpp;
        var ours = SharedTokenizers.Llama;
        Assert.Equal((32000, 1, 2, 0), (cpp.VocabSize, cpp.BosId, cpp.EosId, cpp.UnkId));
        Assert.Equal((ours.VocabSize, ours.BosId, ours.EosId, ours.UnkId), (cpp.VocabSize, cpp.BosId, cpp.EosId, cpp.UnkId));
        Assert.True(cpp.AddBosDefault);
        Assert.False(cpp.AddEosDefault);
        for (int id = 0; id < cpp.VocabSize; id++)
        {
            Assert.Equal(ours.TokenText(id), cpp.TokenText(id));
            Assert.Equal(ours.TokenScore(id), cpp.TokenScore(id));
        }
    }

    [SharedDataFact(Model, Csv)]
    public void TokenizerReadBackFromTheGgufFile_EqualsTheOneBuiltInMemory()
    {
        _ = fx.Cpp; // writes the file
        var fromFile = LlamaVocabTokenizer.FromGgufFile(fx.GgufPath);
        var inMemory = SharedTokenizers.Llama;
        Assert.Equal(inMemory.VocabSize, fromFile.VocabSize);
        for (int id = 0; id < inMemory.VocabSize; id++)
        {
            Assert.Equal(inMemory.TokenText(id), fromFile.TokenText(id));
            Assert.Equal(inMemory.TokenScore(id), fromFile.TokenScore(id));
            Assert.Equal(inMemory.TokenType(id), fromFile.TokenType(id));
        }
        foreach (var text in SharedTokenizers.TruthfulQaTexts.Take(500))
            Assert.Equal(inMemory.Encode(text, true, true), fromFile.Encode(text, true, true));
    }

    [SharedDataFact(Model)]
    public void EveryPiece_RendersAsTokenToPiece()
    {
        var cpp = fx.Cpp;
        var ours = SharedTokenizers.Llama;
        for (int id = 0; id < cpp.VocabSize; id++)
            Assert.True(ours.PieceBytes(id).SequenceEqual(cpp.PieceBytes(id)), $"piece {id} '{ours.TokenText(id)}'");
    }

    [SharedDataFact(Model, Csv)]
    public void TruthfulQa_IdsEqualLlamaCpp_WithAndWithoutSpecialTokens()
    {
        var cpp = fx.Cpp;
        var ours = SharedTokenizers.Llama;
        var mismatches = new List<string>();
        foreach (var text in SharedTokenizers.TruthfulQaTexts)
        {
            // add_special = true adds BOS only (add_bos_token = true, add_eos_token = false)
            var withSpecial = cpp.Tokenize(text, addSpecial: true);
            var plain = cpp.Tokenize(text, addSpecial: false);
            if (!withSpecial.SequenceEqual(ours.Encode(text, addBos: true, addEos: false)) || !plain.SequenceEqual(ours.Encode(text, false, false)))
                mismatches.Add($"'{text}': llama.cpp [{string.Join(",", withSpecial)}] ours [{string.Join(",", ours.Encode(text, true, false))}]");
            Assert.Equal(ours.Encode(text, true, true), cpp.Encode(text, true, true));
        }
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} mismatches, first: {string.Join("\n", mismatches.Take(5))}");
    }

    [SharedDataFact(Model, Csv)]
    public void TruthfulQa_DecodeEqualsLlamaCpp_ExceptTheSpaceAfterALeadingBos()
    {
        var cpp = fx.Cpp;
        var ours = SharedTokenizers.Llama;
        foreach (var text in SharedTokenizers.TruthfulQaTexts)
        {
            var ids = ours.Encode(text, addBos: false, addEos: true);
            Assert.Equal(cpp.Decode(ids), ours.Decode(ids));
            Assert.Equal(text, cpp.Decode(ids));
            var withBos = ours.Encode(text, addBos: true, addEos: true);
            Assert.Equal(" " + text, cpp.Decode(withBos)); // llama.cpp: the BOS takes the one-space strip
            Assert.Equal(text, ours.Decode(withBos));      // ours (and SentencePiece): the first visible piece does
        }
    }

    [SharedDataTheory(Model)]
    [MemberData(nameof(TokenizerAgreementTests.EdgeCases), MemberType = typeof(TokenizerAgreementTests))]
    public void EdgeCases_EqualLlamaCpp(string text)
    {
        var cpp = fx.Cpp;
        var ours = SharedTokenizers.Llama;
        Assert.Equal(cpp.Tokenize(text, addSpecial: true), ours.Encode(text, addBos: true, addEos: false));
        Assert.Equal(cpp.Tokenize(text, addSpecial: false), ours.Encode(text, addBos: false, addEos: false));
    }

    [SharedDataFact(Model)]
    public void TiesAndLoneSurrogates_EqualLlamaCpp()
    {
        var cpp = fx.Cpp;
        var ours = SharedTokenizers.Llama;
        foreach (var text in new[] { "efff", "cefff", "aaaa", "aaaaa", "   ", "......", "a\uD800b", "\uDC00", "x\uD83D" })
            Assert.Equal(cpp.Tokenize(text, addSpecial: false), ours.Encode(text, false, false));
    }

    [SharedDataFact(Model)]
    public void RandomUnicodeStrings_EqualLlamaCpp()
    {
        var cpp = fx.Cpp;
        var ours = SharedTokenizers.Llama;
        TokenizerAgreementTests.RandomText().Sample(s =>
            cpp.Tokenize(s, addSpecial: true).SequenceEqual(ours.Encode(s, addBos: true, addEos: false))
            && cpp.Decode(ours.Encode(s, false, false)) == ours.Decode(ours.Encode(s, false, false)), iter: 3000);
    }

    [SharedDataFact(Model)]
    public void VocabOnlyFile_NeedsGeneralArchitecture_ButNoLlamaHyperparameters()
    {
        // what the vocab-only writer relies on: this libllama loads a vocabulary with general.architecture and the
        // tokenizer keys alone (no llama.* key), and refuses a file without general.architecture
        Assert.DoesNotContain(VocabOnlyGguf.Metadata(SharedTokenizers.Model).Keys, k => k.StartsWith("llama.", StringComparison.Ordinal));
        Assert.Equal(32000, fx.Cpp.VocabSize);

        var md = VocabOnlyGguf.Metadata(SharedTokenizers.Model);
        md.Remove("general.architecture");
        string path = Path.Combine(fx.Dir, "no-arch.gguf");
        VocabOnlyGguf.Write(path, md);
        var e = Assert.Throws<BadInputException>(() => LlamaCppTokenizer.Load(path));
        output.WriteLine(e.Message);
        Assert.Contains(path, e.Message);
        Assert.Contains("unknown model architecture", e.Message);
    }

    [SharedDataFact(Model)]
    public void UnknownTokenizerModel_IsBadInputWithLibllamasReason()
    {
        var md = VocabOnlyGguf.Metadata(SharedTokenizers.Model);
        md.Set(GgufTokenizerKeys.Model, GgufValue.Of("nonsense"));
        string path = Path.Combine(fx.Dir, "bad-model.gguf");
        VocabOnlyGguf.Write(path, md);
        var e = Assert.Throws<BadInputException>(() => LlamaCppTokenizer.Load(path));
        output.WriteLine(e.Message);
        Assert.Contains("unknown tokenizer: 'nonsense'", e.Message);
    }

    [Fact]
    public void DefaultModelParams_MatchThePinnedLayout()
    {
        var p = LlamaAdapter.Core.Native.LlamaApi.DefaultModelParams(); // throws when the runtime is another build
        Assert.Equal(-1, p.NGpuLayers);
        Assert.Equal(0, p.VocabOnly);
    }

    [Fact]
    public void MissingFile_IsFileNotFound() =>
        Assert.Throws<FileNotFoundException>(() => LlamaCppTokenizer.Load("/nonexistent/vocab.gguf"));
}
