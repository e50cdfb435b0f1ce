using System.Globalization;
using LlamaAdapter.Core.Config;

namespace LlamaAdapter.Training.Peft;

/// <summary>
/// LoRA (Hu et al. 2021) on the chosen projections of every layer: W x + (alpha/r)·B·A·dropout(x), A [r, in]
/// kaiming-uniform(a=√5) = U(±1/√in), B [out, r] zeros, so the model starts as the base exactly. Defaults are
/// PEFT's common LLaMA recipe (r 8, alpha 16, dropout 0.05, q and v projections).
/// </summary>
public sealed record LoraConfig(int Rank = 8, double Alpha = 16, double Dropout = 0.05, IReadOnlyList<Projection>? Targets = null)
{
    public IReadOnlyList<Projection> TargetList => Targets ?? [Projection.Wq, Projection.Wv];

    /// <summary>alpha / r.</summary>
    public double Scale => Alpha / Rank;

    public LoraConfig Validate()
    {
        if (Rank < 1) throw new ArgumentException($"LoRA rank {Rank}: expected at least 1");
        if (!double.IsFinite(Alpha) || Alpha <= 0) throw new ArgumentException($"LoRA alpha {Alpha.ToString(CultureInfo.InvariantCulture)}: expected a positive number");
        if (!(Dropout >= 0 && Dropout < 1)) throw new ArgumentException($"LoRA dropout {Dropout.ToString(CultureInfo.InvariantCulture)}: expected 0 <= p < 1");
        if (TargetList.Count == 0) throw new ArgumentException("LoRA targets: expected at least one of wq, wk, wv, wo, w1, w2, w3");
        return this;
    }

    /// <summary>Trainable parameters on a model: Σ over layers and targets of r·(in + out).</summary>
    public long TrainableParameterCount(LlamaConfig model) =>
        model.NLayers * TargetList.Distinct().Sum(t => { var (o, i) = t.Shape(model); return Rank * (i + o); });

    // Value equality over the target list's contents, not its reference (a parsed config must equal the original).
    public bool Equals(LoraConfig? other) =>
        other is not null && Rank == other.Rank && Alpha.Equals(other.Alpha) && Dropout.Equals(other.Dropout) && TargetList.SequenceEqual(other.TargetList);

    public override int GetHashCode() => HashCode.Combine(Rank, Alpha, Dropout, Projections.Format(TargetList));
}

/// <summary>
/// BitFit (Ben Zaken et al. 2021) trains only the bias terms. LLaMA's projections have none, so a zero-initialised
/// bias [out] is added to each chosen projection of every layer (the model starts as the base exactly) and only
/// those are trained. Default: all seven projections.
/// </summary>
public sealed record BitFitConfig(IReadOnlyList<Projection>? Targets = null)
{
    public IReadOnlyList<Projection> TargetList => Targets ?? Projections.All;

    public BitFitConfig Validate()
    {
        if (TargetList.Count == 0) throw new ArgumentException("BitFit targets: expected at least one of wq, wk, wv, wo, w1, w2, w3");
        return this;
    }

    /// <summary>Σ over layers and targets of out.</summary>
    public long TrainableParameterCount(LlamaConfig model) => model.NLayers * TargetList.Distinct().Sum(t => t.Shape(model).Out);

    public bool Equals(BitFitConfig? other) => other is not null && TargetList.SequenceEqual(other.TargetList);
    public override int GetHashCode() => Projections.Format(TargetList).GetHashCode(StringComparison.Ordinal);
}
