using LlamaAdapter.Core.Data;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Inference.Sampling;

namespace LlamaAdapter.Inference.Generation;

/// <summary>
/// A conversation in the Alpaca format the adapters are fine-tuned on. Each user turn becomes one training-shaped
/// sample, BOS + <see cref="AlpacaPrompt.Format(string, string)"/>(instruction, no input) + reply + EOS, and the
/// samples are concatenated, so earlier turns are context the model attends to. The KV cache keeps the
/// conversation: a new turn evaluates only the tokens the cache does not hold yet (the last reply's final token,
/// the EOS closing it, the new prompt). When a turn would not fit in the context, the conversation restarts with it.
/// </summary>
public sealed class AlpacaChat(LlamaSession session, ITokenizer tokenizer, GenerationOptions options)
{
    private readonly List<int> _conversation = [];
    private readonly TokenSampler _sampler = new(options.Sampling);
    private readonly TextGenerator _generator = new(session, tokenizer);

    /// <summary>Every token of the conversation so far; the KV cache holds the first <see cref="LlamaSession.Position"/>.</summary>
    public IReadOnlyList<int> Conversation => _conversation;

    /// <summary>Forgets the conversation.</summary>
    public void Reset()
    {
        _conversation.Clear();
        session.Reset();
    }

    /// <summary>One turn: the instruction wrapped in the no-input template, the reply streamed to <paramref name="onText"/>.</summary>
    /// <param name="restarted">true when the conversation was dropped because this turn would not fit after it.</param>
    public GenerationResult Say(string instruction, Action<string>? onText, out bool restarted, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(instruction);
        int[] prompt = tokenizer.Encode(AlpacaPrompt.Format(instruction, ""), addBos: options.AddBos, addEos: false);
        if (prompt.Length + 1 > session.ContextSize)
            throw new Core.BadInputException($"the turn is {prompt.Length} tokens in the Alpaca template, the context holds {session.ContextSize} " +
                                             "(with room for one reply token): shorten it or raise --ctx");
        restarted = false;
        // Room for the prompt and at least one reply token; otherwise start over with this turn alone.
        if (_conversation.Count > 0 && _conversation.Count + prompt.Length + 1 > session.ContextSize)
        {
            Reset();
            restarted = true;
        }
        if (session.Position > _conversation.Count) throw new InvalidOperationException("the session was used outside this chat");
        int before = _conversation.Count;
        _conversation.AddRange(prompt);
        try
        {
            var pending = _conversation.ToArray().AsSpan(session.Position);
            var result = _generator.Continue(pending, prompt, options, _sampler, onText, cancellationToken);
            _conversation.AddRange(result.Tokens);
            _conversation.Add(tokenizer.EosId); // every turn closes as a training sample does, whatever stopped it
            return result;
        }
        catch
        {
            // The turn never happened: the cache keeps what came before it (later slots are overwritten next time).
            _conversation.RemoveRange(before, _conversation.Count - before);
            if (session.Position > before) session.Rewind(before);
            throw;
        }
    }

    /// <summary>
    /// The read-eval-print loop: each line read is a turn, answered on <paramref name="output"/>; "/reset" forgets the
    /// conversation, "/quit" or the end of input stops. Returns the number of turns answered.
    /// </summary>
    public int Run(TextReader input, TextWriter output, TextWriter? status = null, CancellationToken cancellationToken = default)
    {
        int turns = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            output.Write("> ");
            output.Flush();
            string? line = input.ReadLine();
            if (line is null) { output.WriteLine(); break; }
            string text = line.Trim();
            if (text.Length == 0) continue;
            if (text == "/quit") break;
            if (text == "/reset")
            {
                Reset();
                status?.WriteLine("[conversation reset]");
                continue;
            }
            GenerationResult result;
            bool restarted;
            try
            {
                result = Say(text, piece => { output.Write(piece); output.Flush(); }, out restarted, cancellationToken);
            }
            catch (Core.BadInputException e)
            {
                output.WriteLine();
                status?.WriteLine($"[turn skipped: {e.Message}]");
                continue;
            }
            output.WriteLine();
            turns++;
            if (restarted) status?.WriteLine("[the context was full: earlier turns were dropped]");
            status?.WriteLine($"[{result.PromptTokens.Count} prompt tokens, {result.Tokens.Count} generated, stopped: {result.Reason}, context {session.Position}/{session.ContextSize}]");
        }
        return turns;
    }
}
