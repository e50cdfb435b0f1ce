using System.Globalization;
using System.Text.Json;
using Cocona;
using LlamaAdapter.Core;
using LlamaAdapter.Demo;
using Spectre.Console;

namespace LlamaAdapter.Cli.Commands;

public sealed class DemoCommand
{
    [Command("demo", Description = "The paper's experiment in miniature, offline, in about five minutes on two cores: a small LLaMA trained from scratch on synthetic tasks, linear / non-linear / prefix prompt adapters (and LoRA, BitFit) tuned on held-apart tasks, GGUF Q8_0 conversion, held-out questions answered by the ggml engine, a comparison table and loss curves. Example: llama-adapter demo --out demo-out")]
    public async Task<int> Demo(
        [Option('o', Description = "Folder for the data, models, adapters, results.json and loss-curves.png")] string @out = "demo-out",
        [Option(Description = "Seed for data, initialisation and data order (the run is deterministic for a seed)")] int seed = 0,
        [Option(Description = "Methods to compare, comma-separated: frozen,linear,nonlinear,prefix,lora,bitfit")] string methods = "frozen,linear,nonlinear,prefix,lora,bitfit",
        [Option(Description = "A smaller setting (under a minute): a 2-layer model, fewer examples")] bool quick = false,
        [Option(Description = "CPU threads for the ggml engine (default 1: the demo's models are too small for more to pay)")] int? threads = null,
        [Option("pretrain-examples", Description = "Synthetic examples the base model is trained on from scratch (one epoch)")] int? pretrainExamples = null,
        [Option("pretrain-lr", Description = "Peak learning rate of the base model's training")] double? pretrainLr = null,
        [Option("adapter-examples", Description = "Held-apart-task examples each method is tuned on (the limited-data subset)")] int? adapterExamples = null,
        [Option("adapter-epochs", Description = "Epochs over them")] int? adapterEpochs = null,
        [Option("prompt-lr", Description = "Peak learning rate of the prompt adapters and BitFit")] double? promptLr = null,
        [Option("prompt-layers", Description = "K: prompt adapters on the last K layers")] int? promptLayers = null,
        [Option(Description = "A real base model (GGUF, Hugging Face or Meta folder) instead of training one from scratch")] string? model = null,
        [Option(Description = "Real Alpaca data (.json, .jsonl, .parquet) instead of the synthetic held-apart tasks; its last --eval-items records are held out")] string? data = null,
        [Option("eval-items", Description = "Held-out questions per method")] int? evalItems = null,
        [Option("max-seq-len", Description = "Tokens per training example (default: 32 for the synthetic tasks, 512 with --data)")] int? maxSeqLen = null,
        [Option(Description = "Print results.json to stdout instead of the table")] bool json = false)
    {
        if (threads is < 1) throw new UserException($"--threads: expected >= 1, got {threads}");
        var defaults = quick ? DemoSettings.Quick : DemoSettings.Default;
        var settings = defaults with
        {
            Seed = seed, Threads = threads, Methods = ParseMethods(methods),
            PretrainExamples = Positive(pretrainExamples, "--pretrain-examples") ?? defaults.PretrainExamples,
            PretrainPeakLr = PositiveReal(pretrainLr, "--pretrain-lr") ?? defaults.PretrainPeakLr,
            AdapterExamples = Positive(adapterExamples, "--adapter-examples") ?? defaults.AdapterExamples,
            AdapterEpochs = Positive(adapterEpochs, "--adapter-epochs") ?? defaults.AdapterEpochs,
            PromptPeakLr = PositiveReal(promptLr, "--prompt-lr") ?? defaults.PromptPeakLr,
            EvalItems = Positive(evalItems, "--eval-items") ?? defaults.EvalItems,
            AdapterLayers = Positive(promptLayers, "--prompt-layers") ?? defaults.AdapterLayers,
            MaxSeqLen = Positive(maxSeqLen, "--max-seq-len") ?? (data is null ? defaults.MaxSeqLen : 512),
            BaseModel = model, Data = data,
        };
        if (model is not null && !File.Exists(model) && !Directory.Exists(model)) throw new UserException($"--model {model}: no such file or folder");
        if (data is not null && !File.Exists(data)) throw new UserException($"--data {data}: no such file");

        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { if (!cts.IsCancellationRequested) { e.Cancel = true; cts.Cancel(); } };
        Console.CancelKeyPress += onCancel;
        try
        {
            DemoResult result;
            if (json || Console.IsOutputRedirected)
                result = await new DemoRunner(settings, @out).RunAsync(cts.Token);
            else
                result = await AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                    .StartAsync(async ctx =>
                    {
                        var tasks = new Dictionary<string, ProgressTask>();
                        // The runner reports from one logical flow (awaits resume in turn, never at once): no lock needed.
                        var progress = new InlineProgress<DemoProgress>(p =>
                        {
                            if (!tasks.TryGetValue(p.Stage, out var t))
                            {
                                foreach (var other in tasks.Values) if (!other.IsFinished) other.Value = other.MaxValue;
                                tasks[p.Stage] = t = ctx.AddTask(p.Stage, maxValue: Math.Max(1, p.Total));
                            }
                            t.MaxValue = Math.Max(1, p.Total);
                            t.Value = p.Done;
                            t.Description = p.Detail is null ? p.Stage : $"{p.Stage} [grey]{Markup.Escape(p.Detail)}[/]";
                        });
                        var r = await new DemoRunner(settings, @out, progress).RunAsync(cts.Token);
                        foreach (var t in tasks.Values) t.Value = t.MaxValue;
                        return r;
                    });
            if (json) Console.WriteLine(File.ReadAllText(Path.Combine(@out, "results.json")));
            else Print(result);
            return 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static void Print(DemoResult r)
    {
        var table = new Table().Title("Held-apart synthetic tasks (held-out questions)")
            .AddColumns("method", "trainable params", "train s", "val loss", "exact answer", "multiple choice", "scored on");
        foreach (var row in r.Rows)
            table.AddRow(DemoRunner.Name(row.Method), row.TrainableParameters.ToString("N0", CultureInfo.InvariantCulture),
                         row.Method == DemoMethod.Frozen ? "-" : row.TrainSeconds.ToString("0", CultureInfo.InvariantCulture),
                         row.ValidationLoss?.ToString("0.000", CultureInfo.InvariantCulture) ?? "-",
                         row.GenerationAccuracy.ToString("P1", CultureInfo.InvariantCulture),
                         row.ChoiceAccuracy.ToString("P1", CultureInfo.InvariantCulture), row.Engine);
        AnsiConsole.Write(table);
        var best = r.Rows.Where(x => x.Method != DemoMethod.Frozen).MaxBy(x => x.GenerationAccuracy + x.ChoiceAccuracy);
        if (best is not null)
        {
            AnsiConsole.MarkupLineInterpolated($"Examples ({DemoRunner.Name(best.Method)}):");
            foreach (var a in best.Answers.DistinctBy(a => a.Task))
                AnsiConsole.MarkupLineInterpolated($"  {a.Instruction} [blue]{a.Input}[/] → [{(a.GenerationCorrect ? "green" : "red")}]{a.Generated.Trim()}[/] (expected {a.Expected})");
        }
        string origin = r.PretrainSeconds > 0 ? $"pretrained in {r.PretrainSeconds:0}s" : "given";
        AnsiConsole.MarkupLineInterpolated($"base model ({origin}): {r.BaseModel} (and {Path.GetFileName(r.BaseQuantized)}); loss curves: {r.LossPlot ?? "none (nothing trained)"}; everything: {Path.Combine(r.OutDir, "results.json")}");
    }

    private static int? Positive(int? v, string option) =>
        v is null or > 0 ? v : throw new UserException($"{option}: expected a positive number, got {v}");

    private static double? PositiveReal(double? v, string option) =>
        v is null || (double.IsFinite(v.Value) && v > 0) ? v : throw new UserException($"{option}: expected a positive number, got {v}");

    private static IReadOnlyList<DemoMethod> ParseMethods(string list)
    {
        var names = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (names.Length == 0) throw new UserException("--methods: expected at least one of frozen,linear,nonlinear,prefix,lora,bitfit");
        var byName = Enum.GetValues<DemoMethod>().ToDictionary(DemoRunner.Name, StringComparer.OrdinalIgnoreCase);
        return names.Select(n => byName.TryGetValue(n, out var m) ? m
            : throw new UserException($"--methods: unknown method '{n}'; expected frozen, linear, nonlinear, prefix, lora or bitfit")).Distinct().ToList();
    }
}
