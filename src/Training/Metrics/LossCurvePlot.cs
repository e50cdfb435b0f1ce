using ScottPlot;

namespace LlamaAdapter.Training.Metrics;

/// <summary>One run's curve for <see cref="LossCurvePlot"/>: a label and its metrics.</summary>
public sealed record LossCurve(string Label, IReadOnlyList<StepMetrics> Metrics);

/// <summary>
/// Several runs' loss curves in one PNG, as the paper's figure compares non-linear, linear and random-init prompts:
/// the training loss per step (optionally smoothed with an exponential moving average) as a line, and each
/// validation pass as a marker of the same colour.
/// </summary>
public static class LossCurvePlot
{
    public static void Save(IReadOnlyList<LossCurve> curves, string pngPath, string title = "Training loss", double smoothing = 0.0,
                            int width = 960, int height = 560)
    {
        if (curves.Count == 0) throw new ArgumentException("no runs to plot");
        if (smoothing is < 0 or >= 1) throw new ArgumentException($"smoothing {smoothing}: expected 0 <= smoothing < 1");
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < curves.Count; i++)
        {
            var c = curves[i];
            var color = palette.GetColor(i);
            var train = c.Metrics.Where(m => m.Loss is not null).ToList();
            if (train.Count > 0)
            {
                double[] xs = train.Select(m => (double)m.Step).ToArray();
                double[] ys = Smooth(train.Select(m => m.Loss!.Value).ToArray(), smoothing);
                var line = plot.Add.ScatterLine(xs, ys, color);
                line.LegendText = c.Label;
                line.LineWidth = 2;
            }
            var val = c.Metrics.Where(m => m.ValLoss is not null).ToList();
            if (val.Count > 0)
            {
                var dots = plot.Add.ScatterPoints(val.Select(m => (double)m.Step).ToArray(), val.Select(m => m.ValLoss!.Value).ToArray(), color);
                dots.MarkerSize = 8;
                dots.MarkerShape = MarkerShape.OpenCircle;
                dots.LegendText = $"{c.Label} (validation)";
            }
        }
        plot.Title(title);
        plot.XLabel("optimizer step");
        plot.YLabel(smoothing > 0 ? $"loss (EMA {smoothing:0.##})" : "loss");
        plot.ShowLegend(Alignment.UpperRight);

        string dir = Path.GetDirectoryName(Path.GetFullPath(pngPath))!;
        Directory.CreateDirectory(dir);
        string tmp = Path.Combine(dir, $".{Path.GetFileNameWithoutExtension(pngPath)}.{Environment.ProcessId}.tmp.png");
        try
        {
            plot.SavePng(tmp, width, height);
            File.Move(tmp, pngPath, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Bias-corrected EMA, so the first points are not pulled towards zero.</summary>
    public static double[] Smooth(double[] ys, double alpha)
    {
        if (alpha == 0) return ys;
        var r = new double[ys.Length];
        double avg = 0;
        for (int i = 0; i < ys.Length; i++)
        {
            avg = alpha * avg + (1 - alpha) * ys[i];
            r[i] = avg / (1 - Math.Pow(alpha, i + 1));
        }
        return r;
    }
}
