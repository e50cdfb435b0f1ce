using System.Text;

namespace LlamaAdapter.Evaluation.Metrics;

/// <summary>
/// Per-document multiple-choice metrics as the harness's process_results computes them. Ties go to the first
/// maximum (numpy argmax).
/// </summary>
public static class ChoiceMetrics
{
    /// <summary>argmax of the log-likelihoods.</summary>
    public static int Predict(IReadOnlyList<double> lls) => ArgMax(lls.Count, i => lls[i]);

    /// <summary>
    /// acc_norm's prediction: argmax of ll / len(choice), len being Python's <c>len(str)</c> — Unicode code points of the
    /// choice without the leading space (lm_eval/api/task.py: <c>completion_len = [float(len(i)) for i in choices]</c>).
    /// </summary>
    public static int PredictNorm(IReadOnlyList<double> lls, IReadOnlyList<string> choices) =>
        ArgMax(lls.Count, i => lls[i] / CodePoints(choices[i]));

    /// <summary>The same over UTF-8 byte lengths (the harness's acc_bytes); equal to acc_norm for ASCII choices.</summary>
    public static int PredictBytes(IReadOnlyList<double> lls, IReadOnlyList<string> choices) =>
        ArgMax(lls.Count, i => lls[i] / Encoding.UTF8.GetByteCount(choices[i]));

    public static int CodePoints(string s) => s.EnumerateRunes().Count();

    /// <summary>
    /// truthfulqa utils.process_results_mc2: the true answers come first (split at the first label 0); the score is
    /// Σ p(true) / (Σ p(true) + Σ p(false)) with p = exp(ll). Computed relative to the largest ll, which is the same
    /// number where the harness's plain exp does not underflow (lls above ≈ −745) and stays defined where it would.
    /// </summary>
    public static double Mc2(IReadOnlyList<double> lls, IReadOnlyList<int> labels)
    {
        if (lls.Count != labels.Count) throw new ArgumentException($"mc2: {lls.Count} log-likelihoods for {labels.Count} labels");
        int split = labels.ToList().IndexOf(0);
        if (split <= 0) throw new ArgumentException("mc2: expected true answers (label 1) first, then at least one false answer (label 0)");
        double max = lls.Max();
        double t = 0, all = 0;
        for (int i = 0; i < lls.Count; i++)
        {
            double p = Math.Exp(lls[i] - max);
            all += p;
            if (i < split) t += p;
        }
        return t / all;
    }

    private static int ArgMax(int n, Func<int, double> value)
    {
        int best = 0;
        double bestValue = value(0);
        for (int i = 1; i < n; i++)
        {
            double v = value(i);
            if (v > bestValue || (double.IsNaN(v) && !double.IsNaN(bestValue))) { best = i; bestValue = v; }
            if (double.IsNaN(bestValue)) break; // numpy argmax returns the first NaN
        }
        return best;
    }
}
