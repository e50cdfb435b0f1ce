namespace LlamaAdapter.Evaluation.Metrics;

/// <summary>A metric over a set of documents: its mean, standard error and how many documents it covers.</summary>
public sealed record MetricValue(double Value, double? Stderr, int Count);

/// <summary>The harness's aggregation (lm_eval/api/metrics.py).</summary>
public static class Aggregate
{
    /// <summary><c>mean</c> with <c>mean_stderr</c> = sample std (n − 1) / √n; null for a single document, where the harness reports N/A.</summary>
    public static MetricValue Mean(IReadOnlyList<double> xs)
    {
        if (xs.Count == 0) throw new ArgumentException("mean of no values");
        double mean = xs.Average();
        if (xs.Count < 2) return new MetricValue(mean, null, xs.Count);
        double ss = xs.Sum(x => (x - mean) * (x - mean));
        return new MetricValue(mean, Math.Sqrt(ss / (xs.Count - 1)) / Math.Sqrt(xs.Count), xs.Count);
    }

    /// <summary>
    /// A group weighted by size (MMLU's aggregate_metric_list weight_by_size: True): Σ nᵢ·meanᵢ / Σ nᵢ, with
    /// <c>pooled_sample_stderr</c> = √( Σ (nᵢ − 1)·nᵢ·seᵢ² / (Σ nᵢ − k) / Σ nᵢ ).
    /// </summary>
    public static MetricValue Pooled(IReadOnlyList<MetricValue> parts)
    {
        if (parts.Count == 0) throw new ArgumentException("group of no parts");
        int total = parts.Sum(p => p.Count);
        double mean = parts.Sum(p => p.Value * p.Count) / total;
        if (parts.Any(p => p.Stderr is null) || total - parts.Count <= 0) return new MetricValue(mean, null, total);
        double var = parts.Sum(p => (p.Count - 1) * p.Stderr!.Value * p.Stderr.Value * p.Count) / (total - parts.Count);
        return new MetricValue(mean, Math.Sqrt(var / total), total);
    }
}
