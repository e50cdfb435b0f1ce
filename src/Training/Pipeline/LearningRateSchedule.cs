namespace LlamaAdapter.Training.Pipeline;

/// <summary>
/// The reference schedule (llama-adaptor-nonlinear util/lr_sched.py:10-23, called every step from
/// engine_finetuning.py:37-38): with the fractional epoch e = batchInEpoch / batchesPerEpoch + epoch, a linear
/// warm-up from 0 over <see cref="WarmupEpochs"/>, then a half cosine from the peak down to <see cref="MinLr"/>.
/// The peak is blr × effective batch / 256 (finetuning.py:229-236).
/// </summary>
public sealed record LearningRateSchedule(double PeakLr, double WarmupEpochs, double Epochs, double MinLr = 0.0)
{
    public static double PeakFromBase(double baseLr, int effectiveBatch) => baseLr * effectiveBatch / 256.0;

    public double At(double epoch)
    {
        if (epoch < WarmupEpochs) return PeakLr * epoch / WarmupEpochs;
        double span = Epochs - WarmupEpochs;
        double progress = span <= 0 ? 1.0 : Math.Min(1.0, (epoch - WarmupEpochs) / span);
        return MinLr + (PeakLr - MinLr) * 0.5 * (1.0 + Math.Cos(Math.PI * progress));
    }

    public double At(int epoch, long batchInEpoch, long batchesPerEpoch) => At(epoch + (double)batchInEpoch / batchesPerEpoch);
}
