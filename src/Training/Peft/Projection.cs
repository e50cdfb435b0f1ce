using LlamaAdapter.Core.Config;

namespace LlamaAdapter.Training.Peft;

/// <summary>The seven linear projections of a LLaMA block, by their Meta names.</summary>
public enum Projection { Wq, Wk, Wv, Wo, W1, W2, W3 }

public static class Projections
{
    public static readonly IReadOnlyList<Projection> All = Enum.GetValues<Projection>();

    /// <summary>wq → "wq".</summary>
    public static string Name(this Projection p) => p.ToString().ToLowerInvariant();

    /// <summary>Where the projection lives in a block: <c>attention.wq</c>, <c>feed_forward.w1</c>.</summary>
    public static string Path(this Projection p) => (p <= Projection.Wo ? "attention." : "feed_forward.") + p.Name();

    /// <summary>W's shape [out, in] for a model config.</summary>
    public static (long Out, long In) Shape(this Projection p, LlamaConfig c) => p switch
    {
        Projection.Wq or Projection.Wo => (c.Dim, c.Dim),
        Projection.Wk or Projection.Wv => (c.KvDim, c.Dim),
        Projection.W1 or Projection.W3 => (c.FfnDim, c.Dim),
        Projection.W2 => (c.Dim, c.FfnDim),
        _ => throw new ArgumentOutOfRangeException(nameof(p)),
    };

    /// <summary>"wq,wv" → [Wq, Wv] in block order, duplicates removed; "all" is every projection.</summary>
    public static IReadOnlyList<Projection> Parse(string list, string source)
    {
        if (list.Trim().Equals("all", StringComparison.OrdinalIgnoreCase)) return All;
        var parts = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) throw new ArgumentException($"{source} '{list}': expected a comma-separated list of wq, wk, wv, wo, w1, w2, w3 (or all)");
        var result = new SortedSet<Projection>();
        foreach (var part in parts)
        {
            var hit = All.Where(p => p.Name() == part.ToLowerInvariant()).ToList();
            if (hit.Count == 0) throw new ArgumentException($"{source} '{list}': '{part}' is not one of wq, wk, wv, wo, w1, w2, w3");
            result.Add(hit[0]);
        }
        return [.. result];
    }

    /// <summary>[Wq, Wv] → "wq,wv" (the form <see cref="Parse"/> reads).</summary>
    public static string Format(IEnumerable<Projection> targets) => string.Join(",", targets.Order().Select(t => t.Name()));
}
