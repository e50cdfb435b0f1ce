using LlamaAdapter.Core;
using LlamaAdapter.Inference.Model;

namespace LlamaAdapter.Evaluation.Scoring;

/// <summary>
/// Log-likelihoods from our ggml engine with the same windowing as <see cref="TorchLogLikelihoodModel"/> (input =
/// (context + continuation)[-(max_length+1):][:-1]). Requests are visited in token order so that those sharing a
/// prefix (a question's choices, few-shot preambles) follow each other. Log-softmax in float64 over the engine's
/// float32 logits.
/// <para>
/// Sequential (<paramref name="batchTokens"/> ≤ 0): one request per graph; the KV cache keeps the shared prefix and
/// only the rest is computed. Batched: requests whose input is a prefix of the next one's share that one sequence
/// (a question whose choices are single tokens, as MMLU's " A".." D", is one sequence), and the distinct sequences
/// are packed into <see cref="LlamaSession.EvaluateSequences"/> calls of at most <paramref name="batchTokens"/>
/// tokens (and at most the session's context). A sequence longer than that budget takes the sequential path.
/// </para>
/// </summary>
/// <param name="batchTokens">tokens per batched graph; 0 or less scores sequentially.</param>
public sealed class GgmlLogLikelihoodModel(LlamaSession session, int batchTokens = 0) : ILogLikelihoodModel
{
    /// <summary>
    /// The CLI's default (eval --batch-tokens): sequential. On CPU it is the faster path (bench ScoringBench: batched
    /// 2.2× slower on 20-token endings, 3.6× on single-token choices), because <see cref="LlamaSession.EvaluateSequences"/>
    /// projects every row onto the vocabulary while the sequential path does so only for the continuation's rows, and
    /// a 60-120 token context already keeps the matrix multiplications wide.
    /// </summary>
    public const int DefaultBatchTokens = 0;

    private int[] _cached = [];

    public int MaxLength => session.ContextSize;

    /// <summary>The token budget of one batched graph (the option, capped by the session's context); 0 when sequential.</summary>
    public int BatchTokens => batchTokens <= 0 ? 0 : Math.Min(batchTokens, session.ContextSize);

    public IReadOnlyList<LogLikelihood> Score(IReadOnlyList<LogLikelihoodRequest> requests, CancellationToken ct = default)
    {
        int vocab = session.Config.VocabSize;
        var inputs = new int[requests.Count][];
        for (int i = 0; i < requests.Count; i++)
        {
            var r = requests[i];
            if (r.Context.Length == 0) throw new BadInputException($"request {i}: empty context, expected at least the BOS token");
            if (r.Continuation.Length == 0) throw new BadInputException($"request {i}: empty continuation, expected at least one token");
            if (r.Continuation.Length > MaxLength)
                throw new BadInputException($"request {i}: continuation of {r.Continuation.Length} tokens is longer than the context {MaxLength}");
            foreach (int id in r.Continuation)
                if ((uint)id >= (uint)vocab) throw new BadInputException($"request {i}: continuation id {id} outside the vocabulary [0, {vocab})");
            var whole = r.Context.Concat(r.Continuation).ToArray();
            inputs[i] = whole[Math.Max(0, whole.Length - (MaxLength + 1))..^1];
        }
        var order = Enumerable.Range(0, requests.Count).ToArray();
        Array.Sort(order, (a, b) => Compare(inputs[a], inputs[b]));
        // The session may have run other tokens since the last call (the demo generates on it between scorings):
        // its cache is trusted only within this call.
        _cached = [];

        // In sorted order a prefix comes right before the inputs that extend it: one sequence serves the whole run
        // (a question whose choices are single tokens has one input for all its choices).
        var groups = new List<(int[] Sequence, List<int> Members)>();
        foreach (int i in order)
        {
            if (groups.Count > 0 && IsPrefix(groups[^1].Sequence, inputs[i]))
            {
                groups[^1].Members.Add(i);
                groups[^1] = (inputs[i], groups[^1].Members);
            }
            else groups.Add((inputs[i], [i]));
        }
        int First(int i) => inputs[i].Length - requests[i].Continuation.Length;   // the input row that predicts continuation[0]

        var results = new LogLikelihood[requests.Count];
        if (BatchTokens == 0)
        {
            foreach (var group in groups)
            {
                ct.ThrowIfCancellationRequested();
                ScoreGroup(group.Sequence, group.Members, First, requests, results);
            }
            return results;
        }

        int budget = BatchTokens;
        var pending = new List<(int[] Sequence, List<int> Members)>();
        int pendingTokens = 0;
        void Flush()
        {
            if (pending.Count == 0) return;
            ct.ThrowIfCancellationRequested();
            float[][] logits = session.EvaluateSequences([.. pending.Select(g => g.Sequence)]);   // each [length, vocab]
            _cached = [];   // the session is left reset
            for (int g = 0; g < pending.Count; g++)
                foreach (int i in pending[g].Members)
                    results[i] = Reduce(logits[g], First(i), requests[i].Continuation);
            pending.Clear();
            pendingTokens = 0;
        }
        foreach (var group in groups)
        {
            if (group.Sequence.Length > budget)
            {
                ct.ThrowIfCancellationRequested();
                ScoreGroup(group.Sequence, group.Members, First, requests, results);
                continue;
            }
            if (pendingTokens + group.Sequence.Length > budget) Flush();
            pending.Add(group);
            pendingTokens += group.Sequence.Length;
        }
        Flush();
        return results;
    }

    /// <summary>
    /// One sequence on the session's KV cache: the prefix shared with the previous sequence is kept, the rest of the
    /// context runs without logits (the output projection over the vocabulary is the costliest matrix of a small
    /// model), and only the rows that predict continuation tokens get logits.
    /// </summary>
    private void ScoreGroup(int[] sequence, List<int> members, Func<int, int> first, IReadOnlyList<LogLikelihoodRequest> requests, LogLikelihood[] results)
    {
        int from = members.Min(first);
        int keep = Math.Min(Math.Min(CommonPrefix(_cached, sequence), from), session.Position);
        session.Rewind(keep);
        _cached = [];   // until the evaluation below completes
        float[] logits;
        if (from == sequence.Length - 1)
            logits = session.Evaluate(sequence.AsSpan(keep), allLogits: false);       // [1, vocab]: the last row
        else
        {
            if (from > keep) session.Evaluate(sequence.AsSpan(keep, from - keep));
            logits = session.Evaluate(sequence.AsSpan(from), allLogits: true);        // [sequence.Length - from, vocab]
        }
        _cached = sequence;
        foreach (int i in members) results[i] = Reduce(logits, first(i) - from, requests[i].Continuation);
    }

    /// <summary>Sum of log p(continuation[k]) over rows first+k of <paramref name="logits"/> ([rows, vocab]), and whether each was the argmax.</summary>
    private LogLikelihood Reduce(ReadOnlySpan<float> logits, int first, int[] continuation)
    {
        int vocab = session.Config.VocabSize;
        double sum = 0;
        bool greedy = true;
        for (int k = 0; k < continuation.Length; k++)
        {
            int target = continuation[k];
            var row = logits.Slice((first + k) * vocab, vocab);
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

    private static bool IsPrefix(int[] prefix, int[] of) => prefix.Length <= of.Length && CommonPrefix(prefix, of) == prefix.Length;

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
