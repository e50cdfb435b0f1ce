using LlamaAdapter.Training.Metrics;
using LlamaAdapter.Training.Pipeline;

namespace LlamaAdapter.Tests.Training;

public sealed class ScheduleAndMetricsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("metrics-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Schedule_MatchesTheReferenceRecipe()
    {
        // Paper recipe: blr 9e-3, effective batch 64 -> peak 2.25e-3; 5 epochs, 2 of warm-up; 812 batches per epoch.
        double peak = LearningRateSchedule.PeakFromBase(9e-3, 64);
        Assert.Equal(2.25e-3, peak, 15);
        var s = new LearningRateSchedule(peak, WarmupEpochs: 2, Epochs: 5);
        Assert.Equal(0.0, s.At(0, 0, 812));
        Assert.Equal(peak / 2, s.At(1, 0, 812), 15);            // halfway through warm-up
        Assert.Equal(peak * 811.0 / 812 / 2, s.At(0, 811, 812), 15);
        Assert.Equal(peak, s.At(2, 0, 812), 15);                // cosine starts at the peak
        Assert.Equal(peak / 2, s.At(3.5), 15);                  // cos(pi/2) = 0
        Assert.Equal(peak * 0.5 * (1 + Math.Cos(Math.PI * (4 + 406.0 / 812 - 2) / 3)), s.At(4, 406, 812), 15);
        Assert.Equal(0.0, s.At(5.0), 15);
    }

    [Fact]
    public void MetricsLog_RoundTripsAndResumeDropsLaterSteps()
    {
        string p = Path.Combine(_dir, "metrics.jsonl");
        using (var log = MetricsLog.Open(p))
            for (int i = 1; i <= 5; i++)
                log.Write(new StepMetrics { Step = i, Loss = 5.0 / i, Lr = 1e-3, Gates = new() { ["30"] = [0.1f * i] } });
        File.AppendAllText(p, "{\"step\": 6, \"lo");   // a run killed mid-line
        using (var log = MetricsLog.Open(p, keepUpToStep: 3))
            log.Write(new StepMetrics { Step = 4, ValLoss = 1.25 });
        var read = MetricsLog.Read(p);
        Assert.Equal([1L, 2, 3, 4], read.Select(m => m.Step));
        Assert.Equal(5.0 / 2, read[1].Loss);
        Assert.Equal(0.3f, read[2].Gates!["30"][0]);
        Assert.Equal(1.25, read[3].ValLoss);
        Assert.Null(read[3].Loss);
    }

    [Fact]
    public void LossPlot_WritesAPngOfTheRequestedSize()
    {
        var a = Enumerable.Range(1, 50).Select(i => new StepMetrics { Step = i, Loss = 3.0 / Math.Sqrt(i) }).ToList();
        var b = Enumerable.Range(1, 50).Select(i => new StepMetrics { Step = i, Loss = 4.0 / Math.Sqrt(i) })
                          .Append(new StepMetrics { Step = 50, ValLoss = 0.7 }).ToList();
        string png = Path.Combine(_dir, "loss.png");
        LossCurvePlot.Save([new("nonlinear", a), new("linear", b)], png, smoothing: 0.5, width: 640, height: 400);
        byte[] bytes = File.ReadAllBytes(png);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
        Assert.Equal(640, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16)));  // IHDR width
        Assert.Equal(400, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(20)));  // IHDR height
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp.png"));
    }

    [Fact]
    public void Smoothing_IsBiasCorrected()
    {
        Assert.Equal([2.0, 2.0, 2.0], LossCurvePlot.Smooth([2.0, 2.0, 2.0], 0.9));
    }
}
