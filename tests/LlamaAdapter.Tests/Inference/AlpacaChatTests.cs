using System.Text;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Data;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Inference.Generation;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Inference.Sampling;
using LlamaAdapter.Tests.Model;

namespace LlamaAdapter.Tests.Inference;

/// <summary>
/// The chat loop over the tiny model with a one-character-per-id tokenizer that can spell the Alpaca template
/// (newline included): turns are wrapped in the template, the KV cache carries the conversation, and a turn after
/// others gives what a fresh session computing the whole conversation from scratch gives.
/// </summary>
public sealed class AlpacaChatTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("engine-chat-").FullName;
    private readonly TinyLlama _tiny = new(TinyLlama.DefaultConfig() with { ContextLength = 1024 }, seed: 3);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class CharTokenizer : ITokenizer
    {
        // ids 0 (BOS) and 1 (EOS) are control tokens; 2.. are characters.
        private const string Chars = "^$\n abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"()[]{}<>+-*/=_@#%&|~\\";
        public int VocabSize => 97;
        public int BosId => 0;
        public int EosId => 1;
        public int UnkId => -1;
        public int[] Encode(string text, bool addBos, bool addEos) =>
            [.. addBos ? [BosId] : Array.Empty<int>(), .. text.Select(c => Chars.IndexOf(c) is var i and >= 2 ? i : throw new ArgumentException($"no id for '{c}'")),
             .. addEos ? [EosId] : Array.Empty<int>()];
        public string Decode(ReadOnlySpan<int> ids)
        {
            var sb = new StringBuilder();
            foreach (int id in ids) if (id >= 2) sb.Append(Chars[id]);
            return sb.ToString();
        }
        public string PieceText(int id) => id >= 2 ? Chars[id].ToString() : "";
    }

    private readonly CharTokenizer _tok = new();

    private GgmlLlamaModel Load()
    {
        string path = Path.Combine(_dir, "tiny.gguf");
        if (!File.Exists(path)) TinyGguf.WriteModel(_tiny, path);
        return GgmlLlamaModel.Load(path, threads: 1);
    }

    private static GenerationOptions Greedy(int max) => new(MaxTokens: max) { Sampling = SamplingOptions.Greedy };

    [Fact]
    public void FirstTurn_IsGenerationOnTheAlpacaNoInputPrompt()
    {
        using var model = Load();
        using var session = new LlamaSession(model, cacheType: GgmlType.F32);
        var chat = new AlpacaChat(session, _tok, Greedy(12));
        var streamed = new StringBuilder();
        var reply = chat.Say("Name three colors.", t => streamed.Append(t), out bool restarted);
        Assert.False(restarted);
        Assert.Equal(reply.Text, streamed.ToString());

        string prompt = AlpacaPrompt.Format("Name three colors.", "");
        Assert.EndsWith("### Instruction:\nName three colors.\n\n### Response:", prompt);
        Assert.Equal(_tok.Encode(prompt, addBos: true, addEos: false), reply.PromptTokens);
        using var fresh = new LlamaSession(model, cacheType: GgmlType.F32);
        var expected = new TextGenerator(fresh, _tok).Generate(prompt, Greedy(12));
        Assert.Equal(expected.Tokens, reply.Tokens);
        Assert.True(reply.Tokens.Count > 0);

        // The conversation is one closed training-shaped sample: BOS + prompt + reply + EOS.
        Assert.Equal([.. reply.PromptTokens, .. reply.Tokens, _tok.EosId], chat.Conversation);
    }

    [Fact]
    public void LaterTurn_ReusesTheCache_AndMatchesRecomputingTheWholeConversation()
    {
        using var model = Load();
        using var session = new LlamaSession(model, cacheType: GgmlType.F32);
        var chat = new AlpacaChat(session, _tok, Greedy(15));
        var first = chat.Say("Say hi.", null, out _);
        int afterFirst = chat.Conversation.Count;
        // Only the final reply token (when the reply hit max tokens) and the closing EOS are not in the cache yet.
        Assert.InRange(afterFirst - session.Position, 1, 2);
        var second = chat.Say("Now say bye.", null, out bool restarted);
        Assert.False(restarted);
        int[] conv = chat.Conversation.ToArray();
        Assert.Equal([.. first.PromptTokens, .. first.Tokens, _tok.EosId, .. second.PromptTokens, .. second.Tokens, _tok.EosId], conv);

        // Reference: one fresh pass over everything before the second reply, then each reply token's prediction.
        int start = afterFirst + second.PromptTokens.Count;
        using var fresh = new LlamaSession(model, cacheType: GgmlType.F32);
        float[] logits = fresh.Evaluate(conv.AsSpan(0, start + second.Tokens.Count), allLogits: true);
        for (int i = 0; i < second.Tokens.Count; i++)
        {
            var row = logits.AsSpan((start - 1 + i) * 97, 97);
            int best = 0;
            for (int v = 1; v < 97; v++) if (row[v] > row[best]) best = v;
            float secondBest = float.NegativeInfinity;
            for (int v = 0; v < 97; v++) if (v != best) secondBest = Math.Max(secondBest, row[v]);
            if (row[best] - secondBest < 1e-4f) continue; // a near tie may fall either way between batchings
            Assert.Equal(best, second.Tokens[i]);
        }
    }

    [Fact]
    public void Run_ReadsTurnsFromStdin_ResetForgets_QuitStops()
    {
        using var model = Load();
        using var session = new LlamaSession(model, cacheType: GgmlType.F32);
        var chat = new AlpacaChat(session, _tok, Greedy(10));
        var output = new StringWriter();
        var status = new StringWriter();
        int turns = chat.Run(new StringReader("Hello there.\n\n/reset\nHello there.\nAgain.\n/quit\nNever read.\n"), output, status);

        Assert.Equal(3, turns);
        // Expected replies from chats of their own: the turn alone, and "Again." after it.
        using var fresh = new LlamaSession(model, cacheType: GgmlType.F32);
        var reference = new AlpacaChat(fresh, _tok, Greedy(10));
        string hello = reference.Say("Hello there.", null, out _).Text;
        string again = reference.Say("Again.", null, out _).Text;
        // prompts: turn, blank line (skipped), /reset, turn, turn, /quit; nothing after /quit is read
        Assert.Equal($"> {hello}\n> > > {hello}\n> {again}\n> ", output.ToString());
        Assert.Contains("[conversation reset]", status.ToString());
        Assert.DoesNotContain("Never", status.ToString());
        Assert.Equal(reference.Conversation, chat.Conversation);   // the reset dropped the first turn
    }

    [Fact]
    public void FullContext_RestartsTheConversation_TooLongTurn_IsSkippedWithoutDamage()
    {
        using var model = Load();
        int turnLength = _tok.Encode(AlpacaPrompt.Format("Hi.", ""), true, false).Length;
        using var session = new LlamaSession(model, contextSize: turnLength + 20, cacheType: GgmlType.F32);
        var chat = new AlpacaChat(session, _tok, Greedy(8));
        var first = chat.Say("Hi.", null, out bool r1);
        Assert.False(r1);
        var again = chat.Say("Hi.", null, out bool r2);
        Assert.True(r2);                                       // did not fit after the first turn
        Assert.Equal(first.Tokens, again.Tokens);              // so it ran alone, as the first did
        Assert.Equal(first.PromptTokens.Count + first.Tokens.Count + 1, chat.Conversation.Count);

        var before = chat.Conversation.ToArray();
        int position = session.Position;
        Assert.Throws<BadInputException>(() => chat.Say(new string('a', turnLength + 40), null, out _));
        Assert.Equal(before, chat.Conversation);
        Assert.Equal(position, session.Position);

        var status = new StringWriter();
        chat.Run(new StringReader(new string('b', turnLength + 40) + "\n"), TextWriter.Null, status);
        Assert.Contains("turn skipped", status.ToString());
    }
}
