using System.Globalization;

namespace LlamaAdapter.Training.Pipeline;

/// <summary>
/// The optimisation recipe. Defaults are the paper's (finetune_llama_*.sh with 4 GPUs × 16 = effective batch 64):
/// 5 epochs with 2 of warm-up, blr 9e-3 (peak lr = blr · effective batch / 256), weight decay 0.02, AdamW
/// β = (0.9, 0.95), ε = 1e-8, no clipping, seed 0.
/// </summary>
public sealed record TrainerOptions
{
    public int Epochs { get; init; } = 5;
    public double WarmupEpochs { get; init; } = 2;
    /// <summary>Examples per micro-batch (one forward/backward).</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>Micro-batches per optimizer step.</summary>
    public int AccumSteps { get; init; } = 4;
    public double BaseLr { get; init; } = 9e-3;
    public double MinLr { get; init; } = 0.0;
    public double WeightDecay { get; init; } = 0.02;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.95;
    public double Eps { get; init; } = 1e-8;
    /// <summary>Max global L2 norm of the gradient; null (the reference) does not clip.</summary>
    public double? ClipNorm { get; init; }
    public long Seed { get; init; }
    /// <summary>Checkpoint every this many optimizer steps (0: only at each epoch's end, as the reference, and on stop).</summary>
    public int SaveEvery { get; init; }
    /// <summary>Checkpoints kept in the run folder; older ones are deleted after a newer one is written.</summary>
    public int KeepCheckpoints { get; init; } = 2;

    public int EffectiveBatch => BatchSize * AccumSteps;
    public double PeakLr => LearningRateSchedule.PeakFromBase(BaseLr, EffectiveBatch);

    public void Validate()
    {
        static void Check(bool ok, string message) { if (!ok) throw new ArgumentException(message); }
        Check(Epochs >= 1, $"--epochs {Epochs}: expected at least 1");
        Check(WarmupEpochs >= 0 && WarmupEpochs <= Epochs, $"--warmup-epochs {WarmupEpochs}: expected 0..{Epochs}");
        Check(BatchSize >= 1, $"--batch-size {BatchSize}: expected at least 1");
        Check(AccumSteps >= 1, $"--accum {AccumSteps}: expected at least 1");
        Check(BaseLr > 0 && double.IsFinite(BaseLr), $"--blr {BaseLr}: expected a positive number");
        Check(MinLr >= 0 && MinLr <= PeakLr, $"min lr {MinLr}: expected 0..{PeakLr}");
        Check(WeightDecay >= 0 && double.IsFinite(WeightDecay), $"--weight-decay {WeightDecay}: expected >= 0");
        Check(Beta1 is >= 0 and < 1 && Beta2 is >= 0 and < 1, $"betas ({Beta1}, {Beta2}): expected each in [0, 1)");
        Check(Eps > 0, $"eps {Eps}: expected > 0");
        Check(ClipNorm is null || ClipNorm > 0, $"--clip {ClipNorm}: expected a positive norm");
        Check(SaveEvery >= 0, $"--save-every {SaveEvery}: expected >= 0");
        Check(KeepCheckpoints >= 1, $"keep {KeepCheckpoints}: expected at least 1");
    }

    /// <summary>What a resumed run must share with the run it continues for the same trajectory.</summary>
    public string TrajectoryKey() => string.Create(CultureInfo.InvariantCulture,
        $"epochs={Epochs};warmup={WarmupEpochs:R};batch={BatchSize};accum={AccumSteps};blr={BaseLr:R};min_lr={MinLr:R};wd={WeightDecay:R};betas={Beta1:R},{Beta2:R};eps={Eps:R};clip={(ClipNorm is { } c ? c.ToString("R", CultureInfo.InvariantCulture) : "none")};seed={Seed}");
}
