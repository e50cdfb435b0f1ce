namespace LlamaAdapter.Inference.Sampling;

/// <summary>
/// Picks tokens from logits in llama.cpp's default chain order: repetition penalty → top-k → top-p → min-p →
/// temperature → draw. Top-p and min-p therefore judge the untempered distribution, as llama.cpp's do. Seeded:
/// the same options and logits give the same tokens.
/// </summary>
public sealed class TokenSampler
{
    private readonly SamplingOptions _o;
    private readonly Random _rng;
    private float[] _work = [];                 // the penalised logits, reused: no large array per token

    public TokenSampler(SamplingOptions options)
    {
        _o = options.Validate();
        _rng = new Random(unchecked((int)(options.Seed ^ (options.Seed >> 32))));
    }

    /// <param name="logits">[vocab] for the position to predict.</param>
    /// <param name="history">tokens so far (prompt and generated), for the repetition penalty.</param>
    public int Sample(ReadOnlySpan<float> logits, ReadOnlySpan<int> history)
    {
        if (logits.IsEmpty) throw new ArgumentException("no logits", nameof(logits));
        if (_work.Length != logits.Length) _work = new float[logits.Length];
        var l = _work;
        logits.CopyTo(l);
        ApplyRepeatPenalty(l, history);
        if (_o.Temperature <= 0) return ArgMax(l);

        // Candidates by descending logit (ties: lower id first), trimmed step by step.
        int[] ids = _o.TopK > 0 && _o.TopK < l.Length ? TopK(l, _o.TopK) : SortAll(l);
        int n = ids.Length;

        double[] p = Softmax(l, ids, n, 1.0);
        if (_o.TopP < 1)
        {
            double cum = 0;
            for (int i = 0; i < n; i++)
            {
                cum += p[i];
                if (cum >= _o.TopP) { n = i + 1; break; }
            }
        }
        if (_o.MinP > 0)
        {
            double threshold = _o.MinP * p[0];
            int keep = 1;
            while (keep < n && p[keep] >= threshold) keep++;
            n = keep;
        }

        p = Softmax(l, ids, n, _o.Temperature);
        double u = _rng.NextDouble(), acc = 0;
        for (int i = 0; i < n; i++)
        {
            acc += p[i];
            if (u < acc) return ids[i];
        }
        return ids[n - 1];
    }

    /// <summary>llama.cpp's penalty: a seen token's logit is divided by the penalty when positive, multiplied when negative.</summary>
    private void ApplyRepeatPenalty(float[] l, ReadOnlySpan<int> history)
    {
        if (_o.RepeatPenalty == 1f || _o.RepeatLastN == 0) return;
        var recent = history.Length > _o.RepeatLastN ? history[^_o.RepeatLastN..] : history;
        var seen = new HashSet<int>();
        foreach (int t in recent)
            if ((uint)t < (uint)l.Length && seen.Add(t))
                l[t] = l[t] > 0 ? l[t] / _o.RepeatPenalty : l[t] * _o.RepeatPenalty;
    }

    private static int[] SortAll(float[] l)
    {
        int[] ids = Enumerable.Range(0, l.Length).ToArray();
        Array.Sort(ids, (a, b) => l[b] != l[a] ? l[b].CompareTo(l[a]) : a.CompareTo(b));
        return ids;
    }

    /// <summary>
    /// The k best ids in the full sort's order, by one pass with insertion into a sorted run of k: sorting the whole
    /// vocabulary per token would cost milliseconds. Ids arrive in increasing order, so an id tying one already kept
    /// goes after it, and one tying the k-th is left out, exactly as the full sort orders and cuts them.
    /// </summary>
    private static int[] TopK(float[] l, int k)
    {
        var ids = new int[k];
        int count = 0;
        for (int i = 0; i < l.Length; i++)
        {
            float v = l[i];
            if (count == k && !(v > l[ids[k - 1]])) continue;
            int pos = count == k ? k - 1 : count++;
            while (pos > 0 && l[ids[pos - 1]] < v)
            {
                ids[pos] = ids[pos - 1];
                pos--;
            }
            ids[pos] = i;
        }
        return ids;
    }

    private static int ArgMax(float[] l)
    {
        int best = 0;
        for (int i = 1; i < l.Length; i++) if (l[i] > l[best]) best = i;
        return best;
    }

    /// <summary>softmax(l[ids[i]] / t) over the first n candidates, in double.</summary>
    private static double[] Softmax(float[] l, int[] ids, int n, double t)
    {
        var p = new double[n];
        double max = l[ids[0]] / t, sum = 0;
        for (int i = 0; i < n; i++) sum += p[i] = Math.Exp(l[ids[i]] / t - max);
        for (int i = 0; i < n; i++) p[i] /= sum;
        return p;
    }
}
