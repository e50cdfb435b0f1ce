using System.Text;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Inference.Generation;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Inference.Sampling;
using LlamaAdapter.Tests.Model;

namespace LlamaAdapter.Tests.Inference;

/// <summary>Generation over the tiny model with a one-character-per-id tokenizer (ids 0..96 ↔ printable characters).</summary>
public sealed class TextGeneratorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("engine-gen-").FullName;
    private readonly TinyLlama _tiny = new(TinyLlama.DefaultConfig());

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class CharTokenizer(int eos) : ITokenizer
    {
        private const string Chars = "^$ abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"()[]{}<>+-*/=_@#%&|~`\\"; // 97
        public int VocabSize => 97;
        public int BosId => 0;
        public int EosId => eos;
        public int UnkId => -1;
        public int[] Encode(string text, bool addBos, bool addEos) =>
            [.. addBos ? [BosId] : Array.Empty<int>(), .. text.Select(c => Chars.IndexOf(c)), .. addEos ? [EosId] : Array.Empty<int>()];
        public string Decode(ReadOnlySpan<int> ids)
        {
            var sb = new StringBuilder();
            foreach (int id in ids) if (id != BosId && id != EosId) sb.Append(Chars[id]);
            return sb.ToString();
        }
        public string PieceText(int id) => Chars[id].ToString();
    }

    private GgmlLlamaModel Load()
    {
        string path = Path.Combine(_dir, "tiny.gguf");
        if (!File.Exists(path)) TinyGguf.WriteModel(_tiny, path);
        return GgmlLlamaModel.Load(path);
    }

    private static GenerationOptions Greedy(int max, params string[] stops) =>
        new(MaxTokens: max, StopStrings: stops, StopAtEos: false) { Sampling = SamplingOptions.Greedy };

    [Fact]
    public void GreedyDecoding_EqualsArgMaxOverFullRecomputation()
    {
        using var model = Load();
        using var session = new LlamaSession(model, cacheType: GgmlType.F32);
        var tok = new CharTokenizer(eos: 1);
        var result = new TextGenerator(session, tok).Generate("hello", Greedy(20));
        Assert.Equal(StopReason.MaxTokens, result.Reason);
        Assert.Equal(20, result.Tokens.Count);

        // Reference: no cache reuse, the whole sequence re-run for every step.
        var seq = tok.Encode("hello", true, false).ToList();
        using var fresh = new LlamaSession(model, cacheType: GgmlType.F32);
        for (int i = 0; i < 20; i++)
        {
            fresh.Reset();
            float[] l = fresh.Evaluate(seq.ToArray());
            int best = Array.IndexOf(l, l.Max());
            Assert.Equal(best, result.Tokens[i]);
            seq.Add(best);
        }
        Assert.Equal(tok.Decode(result.Tokens.ToArray()), result.Text);
    }

    [Fact]
    public void StopString_EndsTheTextBeforeIt_AndTheStreamNeverShowsIt()
    {
        using var model = Load();
        using var session = new LlamaSession(model);
        var tok = new CharTokenizer(eos: 1);
        string full = new TextGenerator(session, tok).Generate("abc", Greedy(24)).Text;
        string stop = full.Substring(9, 3);
        int at = full.IndexOf(stop, StringComparison.Ordinal);

        var streamed = new StringBuilder();
        var result = new TextGenerator(session, tok).Generate("abc", Greedy(24, stop, "never-there"), s => streamed.Append(s));
        Assert.Equal(StopReason.StopString, result.Reason);
        Assert.Equal(full[..at], result.Text);
        Assert.Equal(result.Text, streamed.ToString());
    }

    [Fact]
    public void EndOfSequence_StopsWithoutEmittingIt()
    {
        using var model = Load();
        using var session = new LlamaSession(model);
        var probe = new TextGenerator(session, new CharTokenizer(eos: 1)).Generate("xyz", Greedy(8));
        // Call the first token that has not appeared before (after the first) EOS: generation must stop right there.
        int j = Enumerable.Range(1, probe.Tokens.Count - 1).First(i => !probe.Tokens.Take(i).Contains(probe.Tokens[i]));
        var tok = new CharTokenizer(probe.Tokens[j]);
        var result = new TextGenerator(session, tok).Generate("xyz", Greedy(8) with { StopAtEos = true });
        Assert.Equal(StopReason.EndOfSequence, result.Reason);
        Assert.Equal(probe.Tokens.Take(j), result.Tokens);
    }

    [Fact]
    public void PromptBeyondTheContext_IsBadInput()
    {
        using var model = Load();
        using var session = new LlamaSession(model, contextSize: 8);
        Assert.Throws<LlamaAdapter.Core.BadInputException>(() =>
            new TextGenerator(session, new CharTokenizer(1)).Generate("abcdefghij", Greedy(4)));
    }

    [Fact]
    public void FullContext_EndsGeneration()
    {
        using var model = Load();
        using var session = new LlamaSession(model, contextSize: 10);
        var result = new TextGenerator(session, new CharTokenizer(1)).Generate("abcd", Greedy(50));
        Assert.Equal(StopReason.ContextFull, result.Reason);
        Assert.Equal(10 - 5 + 1, result.Tokens.Count); // 5 prompt ids; the last sampled token needs no slot
    }
}
