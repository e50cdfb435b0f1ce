using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Inference.Sampling;

namespace LlamaAdapter.Inference.Generation;

/// <summary>
/// Prompt → text over a <see cref="LlamaSession"/>: one batched prefill, then one decode step per token. Text is
/// streamed as it becomes final: a piece that ends inside a UTF-8 character, or could be the start of a stop
/// string, is held back until the next tokens decide it.
/// </summary>
public sealed class TextGenerator(LlamaSession session, ITokenizer tokenizer)
{
    public GenerationResult Generate(string prompt, GenerationOptions options, Action<string>? onText = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        int[] promptIds = tokenizer.Encode(prompt, options.AddBos, addEos: false);
        if (promptIds.Length == 0) throw new ArgumentException("the prompt encodes to no tokens (and no BOS was asked for)", nameof(prompt));
        session.Reset();
        return Continue(promptIds, promptIds, options, new TokenSampler(options.Sampling), onText, cancellationToken);
    }

    /// <summary>
    /// Generates after what the session already holds: <paramref name="pending"/> (tokens not yet evaluated, ending
    /// with this turn's prompt <paramref name="promptIds"/>) is evaluated at the session's position first, so an
    /// earlier conversation stays in the KV cache. Text and the repetition penalty see this turn's prompt and reply only.
    /// </summary>
    public GenerationResult Continue(ReadOnlySpan<int> pending, int[] promptIds, GenerationOptions options, TokenSampler sampler,
        Action<string>? onText = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(options.MaxTokens);
        if (pending.IsEmpty) throw new ArgumentException("nothing to evaluate: a turn needs at least one new token", nameof(pending));
        var stops = (options.StopStrings ?? []).Where(s => s.Length > 0).ToArray();
        var history = new List<int>(promptIds);
        var generated = new List<int>();
        var logits = new float[session.Config.VocabSize];                 // reused: no large array per token
        session.Evaluate(pending, logits);
        string promptText = tokenizer.Decode(promptIds);
        int emitted = 0;
        string text = "";
        var reason = StopReason.MaxTokens;

        while (generated.Count < options.MaxTokens)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int next = sampler.Sample(logits, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(history));
            if (options.StopAtEos && next == tokenizer.EosId) { reason = StopReason.EndOfSequence; break; }
            generated.Add(next);
            history.Add(next);

            text = Continuation(promptText, history, promptIds.Length);
            int stopAt = FirstStop(text, stops, Math.Max(0, emitted - LongestLength(stops)));
            if (stopAt >= 0)
            {
                text = text[..stopAt];
                reason = StopReason.StopString;
                break;
            }
            int final = text.Length - HeldBack(text, stops);
            if (final > emitted)
            {
                onText?.Invoke(text[emitted..final]);
                emitted = final;
            }
            if (generated.Count == options.MaxTokens) break;
            if (session.Position >= session.ContextSize) { reason = StopReason.ContextFull; break; }
            session.Evaluate([next], logits);
        }

        if (text.Length > emitted) onText?.Invoke(text[emitted..]);
        return new GenerationResult(text, promptIds, generated, reason);
    }

    /// <summary>
    /// The text the new tokens add: decoded together with the prompt, so a continuation keeps its leading space
    /// (decoding the new ids alone would strip it as the start of a text).
    /// </summary>
    private string Continuation(string promptText, List<int> all, int promptLength)
    {
        var ids = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(all);
        string full = tokenizer.Decode(ids);
        // A prompt ending inside a UTF-8 character decodes differently alone; then fall back to the new ids alone.
        return full.StartsWith(promptText, StringComparison.Ordinal) ? full[promptText.Length..] : tokenizer.Decode(ids[promptLength..]);
    }

    private static int LongestLength(string[] stops) => stops.Length == 0 ? 0 : stops.Max(s => s.Length);

    private static int FirstStop(string text, string[] stops, int from)
    {
        int best = -1;
        foreach (var s in stops)
        {
            int i = text.IndexOf(s, from, StringComparison.Ordinal);
            if (i >= 0 && (best < 0 || i < best)) best = i;
        }
        return best;
    }

    /// <summary>Characters at the end that are not final yet: an incomplete UTF-8 sequence (U+FFFD) or a proper prefix of a stop string.</summary>
    private static int HeldBack(string text, string[] stops)
    {
        int hold = text.EndsWith('\uFFFD') ? 1 : 0;
        foreach (var s in stops)
            for (int len = Math.Min(s.Length - 1, text.Length); len > hold; len--)
                if (text.AsSpan(text.Length - len).SequenceEqual(s.AsSpan(0, len))) { hold = len; break; }
        return hold;
    }
}
