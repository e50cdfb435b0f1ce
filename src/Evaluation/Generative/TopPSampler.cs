namespace LlamaAdapter.Evaluation.Generative;

/// <summary>
/// The reference's next-token rule (llama/generation.py sample_top_p): softmax(logits / T), sort descending, mask
/// every token whose cumulative probability <i>before</i> it exceeds p (<c>probs_sum − probs_sort &gt; p</c>),
/// renormalise, draw one. T = 0 is argmax (first maximum).
/// </summary>
public static class TopPSampler
{
    /// <summary>The kept tokens with their renormalised probabilities, most probable first.</summary>
    public static IReadOnlyList<(int Id, double P)> Distribution(ReadOnlySpan<float> logits, double temperature, double topP)
    {
        if (temperature <= 0) throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "expected T > 0 (T = 0 is argmax: use Sample)");
        double max = double.NegativeInfinity;
        foreach (var l in logits) max = Math.Max(max, l);
        var probs = new (int Id, double P)[logits.Length];
        double z = 0;
        for (int i = 0; i < logits.Length; i++) { double e = Math.Exp((logits[i] - max) / temperature); probs[i] = (i, e); z += e; }
        // Stable sort by probability descending: equal probabilities keep id order, as torch.sort's result is not relied on beyond ties.
        var sorted = probs.Select(x => (x.Id, P: x.P / z)).OrderByDescending(x => x.P).ToList();
        var kept = new List<(int Id, double P)>();
        double cum = 0;
        foreach (var x in sorted)
        {
            if (cum > topP) break;   // cumsum − p_sort = mass before this token
            kept.Add(x);
            cum += x.P;
        }
        double s = kept.Sum(x => x.P);
        return kept.Select(x => (x.Id, x.P / s)).ToList();
    }

    public static int Sample(ReadOnlySpan<float> logits, double temperature, double topP, Random rng)
    {
        if (temperature <= 0)
        {
            int best = 0;
            for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
            return best;
        }
        var d = Distribution(logits, temperature, topP);
        double u = rng.NextDouble(), acc = 0;
        foreach (var (id, p) in d)
        {
            acc += p;
            if (u < acc) return id;
        }
        return d[^1].Id;
    }
}
