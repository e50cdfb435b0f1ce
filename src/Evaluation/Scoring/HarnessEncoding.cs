using LlamaAdapter.Core;
using LlamaAdapter.Core.Tokenizers;

namespace LlamaAdapter.Evaluation.Scoring;

/// <summary>
/// The harness's <c>_encode_pair</c>: trailing whitespace moves from the context to the continuation, then
/// context+continuation is encoded whole (with BOS) and split after the context's own encoding (with BOS), so the
/// continuation tokens are exactly those the model sees after the context.
/// </summary>
public static class HarnessEncoding
{
    public static LogLikelihoodRequest EncodePair(ITokenizer tokenizer, string context, string continuation)
    {
        if (context.Length == 0)
            // The harness scores a context-free continuation after the prefix token (BOS for LLaMA).
            return Checked(new LogLikelihoodRequest([tokenizer.BosId], tokenizer.Encode(continuation, addBos: false, addEos: false)), continuation);
        int trimmed = context.TrimEnd().Length;
        if (trimmed < context.Length)
        {
            continuation = context[trimmed..] + continuation;
            context = context[..trimmed];
        }
        var whole = tokenizer.Encode(context + continuation, addBos: true, addEos: false);
        var ctx = tokenizer.Encode(context, addBos: true, addEos: false);
        return Checked(new LogLikelihoodRequest(ctx, whole[Math.Min(ctx.Length, whole.Length)..]), continuation);
    }

    private static LogLikelihoodRequest Checked(LogLikelihoodRequest r, string continuation) =>
        r.Continuation.Length > 0 ? r
        : throw new BadInputException($"continuation '{continuation}': it encodes to no tokens after its context, expected at least one");
}
