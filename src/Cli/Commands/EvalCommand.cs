using System.Globalization;
using Cocona;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Evaluation;
using LlamaAdapter.Evaluation.Reports;
using LlamaAdapter.Evaluation.Scoring;
using LlamaAdapter.Evaluation.Tasks;
using LlamaAdapter.Training.Loading;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Cli.Commands;

public sealed class EvalCommand
{
    [Command("eval", Description = "Score multiple-choice benchmarks by log-likelihood as lm-evaluation-harness does (arc_easy, arc_challenge, hellaswag, mmlu, truthfulqa_mc1, truthfulqa_mc2). Example: llama-adapter eval -m llama-2-7b.gguf --tasks truthfulqa_mc2 --limit 50 --out results.json")]
    public async Task<int> Eval(
        [Option('m', Description = "GGUF file, HF directory (config.json + safetensors) or Meta directory (consolidated.NN.pth + params.json)")] string model,
        [Option(Description = "tokenizer.model (SentencePiece); for a GGUF model its own vocabulary is used when omitted")] string? tokenizer = null,
        [Option(Description = "Adapter checkpoint (not available yet)")] string? adapter = null,
        [Option(Description = "Comma-separated tasks: arc_easy, arc_challenge, hellaswag, mmlu, truthfulqa_mc1, truthfulqa_mc2")] string tasks = "truthfulqa_mc1,truthfulqa_mc2",
        [Option(Description = "Folder holding the benchmark files (ARC-Easy/, ARC-Challenge/, hellaswag/, mmlu/, TruthfulQA.csv)")] string dataDir = "../shared/data",
        [Option(Description = "At most this many documents per task (per subject for MMLU), as the harness's --limit")] int? limit = null,
        [Option(Description = "Few-shot examples per document (default: each task's harness default, 0)")] int? shots = null,
        [Option(Description = "Few-shot sampling seed (the harness's fewshot_random_seed)")] ulong seed = 1234,
        [Option(Description = "Skip malformed records (counted) instead of stopping")] bool skipBad = false,
        [Option(Description = "Requests per forward batch")] int batchSize = 16,
        [Option(Description = "Print the results as JSON instead of a table")] bool json = false,
        [Option(Description = "Write the full report (results and per-document log-likelihoods) to this JSON file")] string? @out = null,
        [Option(Description = "cpu, cuda or cuda:N")] string device = "cpu",
        [Option(Description = "Model dtype: f32, bf16 or f16")] string dtype = "f32")
    {
        if (adapter is not null) throw new UserException("--adapter: evaluating with an adapter is not available yet");
        var names = TaskCatalog.Parse(tasks);
        var scalar = dtype switch
        {
            "f32" => ScalarType.Float32,
            "bf16" => ScalarType.BFloat16,
            "f16" => ScalarType.Float16,
            _ => throw new UserException($"--dtype: expected f32, bf16 or f16, got '{dtype}'"),
        };
        var dev = ParseDevice(device);
        if (batchSize <= 0) throw new UserException($"--batch-size: expected a positive number, got {batchSize}");
        if (!Directory.Exists(dataDir)) throw new UserException($"--data-dir: folder '{dataDir}' not found");
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };

        bool needFewShot = shots is > 0;
        var loaded = new List<EvalTask>();
        foreach (var n in names) loaded.Add(await TaskCatalog.LoadAsync(n, dataDir, needFewShot, skipBad, cts.Token));

        using var checkpoint = LlamaCheckpoint.Open(model);
        var tok = LoadTokenizer(tokenizer, checkpoint);
        using var llama = PretrainedLlama.Load(checkpoint, scalar, dev, cts.Token);
        if (tok.VocabSize > llama.Config.VocabSize)
            throw new UserException($"--tokenizer: its vocabulary has {tok.VocabSize} pieces, the model {llama.Config.VocabSize}: expected the model's own tokenizer");
        var evaluator = new Evaluator(new TorchLogLikelihoodModel(llama, batchSize), tok);
        var settings = new EvalSettings(names, shots, limit, seed, checkpoint.Path, Path.GetFullPath(dataDir));
        var options = new EvalOptions(shots, limit, seed);

        EvalReport report;
        if (json || Console.IsOutputRedirected)
            report = evaluator.Run(loaded, options, settings, null, cts.Token);
        else
        {
            report = null!;
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var bar = ctx.AddTask("scoring", maxValue: 1);
                    report = evaluator.Run(loaded, options, settings, new Inline(p =>
                    {
                        bar.MaxValue = p.Total;
                        bar.Value = p.Done;
                        bar.Description = Markup.Escape(p.Subtask);
                    }), cts.Token);
                });
        }

        if (@out is not null) EvalReportJson.Write(@out, report);
        if (json)
        {
            Console.WriteLine(EvalReportJson.Serialize(report with { Samples = [] }));
            return 0;
        }
        var table = new Table().AddColumns("task", "shots", "n", "metric", "value", "± stderr");
        foreach (var row in report.Results)
            foreach (var (metric, v) in row.Metrics)
                table.AddRow(Markup.Escape(new string(' ', 2 * row.Level) + row.Name), $"{row.Shots}", $"{v.Count}", metric,
                    v.Value.ToString("F4", CultureInfo.InvariantCulture), v.Stderr?.ToString("F4", CultureInfo.InvariantCulture) ?? "N/A");
        AnsiConsole.Write(table);
        if (@out is not null) AnsiConsole.MarkupLineInterpolated($"[grey]report with per-document log-likelihoods: {@out}[/]");
        return 0;
    }

    private static ITokenizer LoadTokenizer(string? path, LlamaCheckpoint checkpoint)
    {
        if (path is not null)
        {
            if (!File.Exists(path)) throw new UserException($"--tokenizer: file '{path}' not found");
            return SpmTokenizer.Load(path);
        }
        if (checkpoint.Format == CheckpointFormat.Gguf)
        {
            using var reader = GgufReader.Open(checkpoint.Path);
            return LlamaVocabTokenizer.FromGguf(reader.Metadata);
        }
        // HF and Meta directories usually hold tokenizer.model beside the weights.
        var beside = Path.Combine(checkpoint.Path, "tokenizer.model");
        if (File.Exists(beside)) return SpmTokenizer.Load(beside);
        throw new UserException($"--tokenizer: no tokenizer.model in {checkpoint.Path}; pass --tokenizer path/to/tokenizer.model");
    }

    private static Device ParseDevice(string device)
    {
        if (device == "cpu") return CPU;
        if (device == "cuda" || device.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!cuda.is_available()) throw new UserException($"--device {device}: CUDA is not available to this build of libtorch");
            return torch.device(device);
        }
        throw new UserException($"--device: expected cpu, cuda or cuda:N, got '{device}'");
    }

    private sealed class Inline(Action<EvalProgress> report) : IProgress<EvalProgress>
    {
        public void Report(EvalProgress value) => report(value);
    }
}
