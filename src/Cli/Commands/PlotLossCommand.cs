using Cocona;
using LlamaAdapter.Training.Metrics;
using Spectre.Console;

namespace LlamaAdapter.Cli.Commands;

public sealed class PlotLossCommand
{
    [Command("plot-loss", Description = "Draw several runs' loss curves in one PNG. Example: llama-adapter plot-loss runs/nonlinear runs/linear runs/prefix --out loss.png")]
    public int PlotLoss(
        [Argument(Description = "Run folders (holding metrics.jsonl) or metrics.jsonl files")] string[] runs,
        [Option('o', Description = "PNG to write")] string @out = "loss.png",
        [Option(Description = "Exponential smoothing of the training loss, 0 (none) to 0.99")] double smoothing = 0.0,
        [Option(Description = "Plot title")] string title = "Training loss")
    {
        if (runs.Length == 0) throw new UserException("plot-loss: name at least one run folder or metrics.jsonl");
        var curves = runs.Select(r =>
        {
            string file = Directory.Exists(r) ? Path.Combine(r, "metrics.jsonl") : r;
            if (!File.Exists(file)) throw new UserException($"{file}: not found (expected a run folder with metrics.jsonl, or the file itself)");
            string label = Path.GetFileName(Path.GetFullPath(Directory.Exists(r) ? r : Path.GetDirectoryName(Path.GetFullPath(r))!).TrimEnd('/'));
            return new LossCurve(label, MetricsLog.Read(file));
        }).ToList();
        LossCurvePlot.Save(curves, @out, title, smoothing);
        foreach (var c in curves)
        {
            var last = c.Metrics.LastOrDefault(m => m.Loss is not null);
            var val = c.Metrics.LastOrDefault(m => m.ValLoss is not null);
            AnsiConsole.MarkupLineInterpolated($"{c.Label}: {c.Metrics.Count(m => m.Loss is not null)} steps, last loss {last?.Loss:0.####}, last validation loss {val?.ValLoss:0.####}");
        }
        AnsiConsole.MarkupLineInterpolated($"wrote [green]{@out}[/]");
        return 0;
    }
}
