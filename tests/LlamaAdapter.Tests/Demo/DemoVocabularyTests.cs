using LlamaAdapter.Core.Data;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Demo;

namespace LlamaAdapter.Tests.Demo;

public sealed class DemoVocabularyTests
{
    private static readonly LlamaVocabTokenizer Tok = DemoVocabulary.Tokenizer();

    [Fact]
    public void EveryInstructionIsOnePieceAndInputsStayCharacters()
    {
        foreach (var instruction in SyntheticTasks.AllInstructions)
        {
            var ids = Tok.Encode("x\n" + instruction, addBos: false, addEos: false); // as it follows "### Instruction:\n"
            Assert.Equal(instruction, Tok.PieceText(ids[^1]));
        }
        foreach (var text in new[] { "abcdef", "ABCDEF", "23 + 45", "99" })
        {
            var ids = Tok.Encode("\n" + text, addBos: false, addEos: false);        // "▁", "\n", one id per character
            Assert.Equal(text.Length + 2, ids.Length);
            Assert.Equal(text.Select(c => c == ' ' ? "\u2581" : c.ToString()), ids[2..].Select(Tok.TokenText));
        }
    }

    [Fact]
    public void AnAlpacaExampleIsShort()
    {
        var e = new AlpacaExample(SyntheticTasks.HeldApart[0].Instructions[0], "abcdef", "fedcba");
        var ids = Tok.Encode(AlpacaPrompt.Format(e) + e.Output, addBos: true, addEos: true);
        // BOS, header, "### Instruction:", instruction, "### Input:", 6 letters, "### Response:", 6 letters, EOS
        Assert.Equal(1 + 1 + 1 + 1 + 1 + 6 + 1 + 6 + 1, ids.Length);
        Assert.Equal(AlpacaPrompt.Format(e) + e.Output, Tok.Decode(ids.AsSpan(1, ids.Length - 2)));
    }

    /// <summary>libllama, loading the vocabulary from a GGUF, must tokenize the demo's data exactly as we do.</summary>
    [Fact]
    public void LibllamaTokenizesTheDemoDataAsWeDo()
    {
        string dir = Directory.CreateTempSubdirectory("demo-vocab-").FullName;
        try
        {
            var md = new GgufMetadata();
            md.Set("general.architecture", GgufValue.Of("llama"));
            foreach (var (k, v) in DemoVocabulary.Metadata()) md.Set(k, v);
            string path = Path.Combine(dir, "vocab.gguf");
            VocabOnlyGguf.Write(path, md);
            using var cpp = LlamaCppTokenizer.Load(path);
            var examples = SyntheticTasks.Examples(SyntheticTasks.Pretraining, 60, 1).Concat(SyntheticTasks.Examples(SyntheticTasks.HeldApart, 40, 2));
            foreach (var e in examples)
            {
                string text = AlpacaPrompt.Format(e) + e.Output;
                Assert.Equal(cpp.Encode(text, addBos: true, addEos: true), Tok.Encode(text, addBos: true, addEos: true));
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
