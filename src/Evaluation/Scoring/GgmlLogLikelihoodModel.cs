using LlamaAdapter.Core;
using LlamaAdapter.Inference.Model;

namespace LlamaAdapter.Evaluation.Scoring;

/// <summary>
/// Log-likelihoods from our ggml engine with the same windowing as <see cref="TorchLogLikelihoodModel"/> (input =
/// (context + continuation)[-(max_length+1):][:-1]). Requests are visited in token order so that those sharing a
/// prefix (a question's choices, few-shot preambles) follow each other; the KV cache keeps the shared prefix and only
/// the rest is computed. Log-softmax in float64 over the engine's float32 logits.
/// </summary>
public sealed class GgmlLogLikelihoodModel(LlamaSession session) : ILogLikelihoodModel
{
    private int[] _cached = [];

    public int MaxLength => session.ContextSize;

    public IReadOnlyList<LogLikelihood> Score(IReadOnlyList<LogLikelihoodRequest> requests, CancellationToken ct = default)
    {
        var inputs = new int[requests.Count][];
        for (int i = 0; i < requests.Count; i++)
        {
            var r = requests[i];
            if (r.Context.Length == 0) throw new BadInputException($"request {i}: empty context, expected at least the BOS token");
            if (r.Continuation.Length == 0) throw new BadInputException($"request {i}: empty continuation, expected at least one token");
            if (r.Continuation.Length > MaxLength)
                throw new BadInputException($"request {i}: continuation of {r.Continuation.Length} tokens is longer than the context {MaxLength}");
            var whole = r.Context.Concat(r.Continuation).ToArray();
            inputs[i] = whole[Math.Max(0, whole.Length - (MaxLength + 1))..^1];
        }
        var order = Enumerable.Range(0, requests.Count).ToArray();
        Array.Sort(order, (a, b) => Compare(inputs[a], inputs[b]));

        var results = new LogLikelihood[requests.Count];
        foreach (int i in order)
        {
            ct.ThrowIfCancellationRequested();
            results[i] = ScoreOne(inputs[i], requests[i].Continuation);
        }
        return results;
    }

    private LogLikelihood ScoreOne(int[] input, int[] continuation)
    {
        int vocab = session.Config.VocabSize;
        int first = input.Length - continuation.Length;  // the input row that predicts continuation[0]
        // Reuse the cached prefix, but recompute at least from the first row whose logits we need.
        int keep = Math.Min(Math.Min(CommonPrefix(_cached, input), first), session.Position);
        session.Rewind(keep);
        var logits = session.Evaluate(input.AsSpan(keep), allLogits: true);   // [input.Length - keep, vocab]
        _cached = input;

        double sum = 0;
        bool greedy = true;
        for (int k = 0; k < continuation.Length; k++)
        {
            int target = continuation[k];
            if ((uint)target >= (uint)vocab) throw new BadInputException($"continuation id {target}: outside the vocabulary [0, {vocab})");
            var row = logits.AsSpan((first + k - keep) * vocab, vocab);
            int best = 0;
            float max = float.NegativeInfinity;
            for (int v = 0; v < vocab; v++) if (row[v] > max) { max = row[v]; best = v; }
            double z = 0;
            for (int v = 0; v < vocab; v++) z += Math.Exp(row[v] - max);
            sum += row[target] - max - Math.Log(z);
            greedy &= best == target;
        }
        return new LogLikelihood(sum, greedy);
    }

    private static int CommonPrefix(int[] a, int[] b)
    {
        int n = Math.Min(a.Length, b.Length), i = 0;
        while (i < n && a[i] == b[i]) i++;
        return i;
    }

    private static int Compare(int[] a, int[] b)
    {
        int n = Math.Min(a.Length, b.Length);
        for (int i = 0; i < n; i++) if (a[i] != b[i]) return a[i].CompareTo(b[i]);
        return a.Length.CompareTo(b.Length);
    }
}
