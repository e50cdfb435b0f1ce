using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Inference.Adapters;
using LlamaAdapter.Inference.Model;
using System.Globalization;
using Cocona;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Evaluation;
using LlamaAdapter.Evaluation.Generative;
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
        [Option(Description = "Adapter GGUF (from convert --base), evaluated on the ggml backend")] string? adapter = null,
        [Option(Description = "LoRA GGUF (llama.cpp's convention, from convert --base) applied in the ggml graph")] string? lora = null,
        [Option("lora-scale", Description = "Multiplier on the LoRA update (llama.cpp's --lora-scaled)")] float loraScale = 1f,
        [Option(Description = "torch (TorchSharp; GGUF, HF or Meta) or ggml (our ggml engine with its KV cache; GGUF only). An --adapter implies ggml")] string? backend = null,
        [Option(Description = "CPU threads for the ggml backend (default: all cores)")] int? threads = null,
        [Option("gpu-layers", Description = GpuOffloadOption.LayersHelp)] int gpuLayers = 0,
        [Option("gpu", Description = GpuOffloadOption.DeviceHelp)] string? gpu = null,
        [Option("no-repack", Description = GpuOffloadOption.NoRepackHelp)] bool noRepack = false,
        [Option(Description = "Comma-separated tasks: arc_easy, arc_challenge, hellaswag, mmlu, truthfulqa_mc1, truthfulqa_mc2")] string tasks = "truthfulqa_mc1,truthfulqa_mc2",
        [Option(Description = "Folder holding the benchmark files (ARC-Easy/, ARC-Challenge/, hellaswag/, mmlu/, TruthfulQA.csv)")] string dataDir = "../shared/data",
        [Option(Description = "At most this many documents per task (per subject for MMLU), as the harness's --limit")] int? limit = null,
        [Option(Description = "Few-shot examples per document (default: each task's harness default, 0)")] int? shots = null,
        [Option(Description = "Few-shot sampling seed (the harness's fewshot_random_seed)")] ulong seed = 1234,
        [Option(Description = "Skip malformed records (counted) instead of stopping")] bool skipBad = false,
        [Option(Description = "Requests per forward batch (torch backend)")] int batchSize = 16,
        [Option("batch-tokens", Description = "ggml backend: tokens per batched graph (several questions scored in one graph, capped by the context). Default 0: one question per graph, its shared context kept in the KV cache, which is faster on CPU")] int batchTokens = GgmlLogLikelihoodModel.DefaultBatchTokens,
        [Option(Description = "Print the results as JSON instead of a table")] bool json = false,
        [Option(Description = "Write the full report (results and per-document log-likelihoods) to this JSON file")] string? @out = null,
        [Option(Description = "cpu, cuda or cuda:N")] string device = "cpu",
        [Option(Description = "Model dtype: f32, bf16 or f16")] string dtype = "f32",
        [Option(Description = "loglik (lm-evaluation-harness) or reference (the paper code's generate-and-match protocol: arc_easy, arc_challenge, mmlu, truthfulqa_mc1)")] string protocol = "loglik",
        [Option(Description = "reference protocol: sampling temperature (0 = greedy)")] double temperature = 0.1,
        [Option(Description = "reference protocol: top-p")] double topP = 0.75,
        [Option(Description = "reference protocol: most new tokens per answer")] int maxNewTokens = 512)
    {
        backend ??= adapter is not null || lora is not null ? "ggml" : "torch";
        if (backend is not ("torch" or "ggml")) throw new UserException($"--backend: expected torch or ggml, got '{backend}'");
        if ((adapter ?? lora) is not null && backend != "ggml") throw new UserException("--adapter, --lora: adapters are evaluated on --backend ggml");
        var offload = GpuOffloadOption.Parse(gpuLayers, gpu);
        if (!offload.IsNone && backend != "ggml") throw new UserException("--gpu-layers, --gpu: only with --backend ggml (the torch backend takes --device)");
        if (protocol == "reference" && backend == "ggml") throw new UserException("--protocol reference runs on --backend torch");
        if (protocol == "reference")
            return await Reference(model, tokenizer, tasks, dataDir, limit, skipBad, @out, json, device, dtype, new GenerationSettings(temperature, topP, maxNewTokens));
        if (protocol != "loglik") throw new UserException($"--protocol: expected loglik or reference, got '{protocol}'");
        var names = TaskCatalog.Parse(tasks);
        var dev = ParseDevice(device);
        if (batchSize <= 0) throw new UserException($"--batch-size: expected a positive number, got {batchSize}");
        if (batchTokens < 0) throw new UserException($"--batch-tokens: expected 0 (sequential) or a positive number of tokens, got {batchTokens}");
        if (!Directory.Exists(dataDir)) throw new UserException($"--data-dir: folder '{dataDir}' not found");
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };

        var scalar = ParseDType(dtype);
        bool needFewShot = shots is > 0;
        var loaded = new List<EvalTask>();
        foreach (var n in names) loaded.Add(await TaskCatalog.LoadAsync(n, dataDir, needFewShot, skipBad, cts.Token));

        ITokenizer tok;
        ILogLikelihoodModel scorer;
        string modelPath;
        var owned = new List<IDisposable>();
        if (backend == "ggml")
        {
            var gm = GgmlLlamaModel.Load(model, threads, offload, GpuOffloadOption.Repack(noRepack));
            owned.Add(gm);
            var ga = adapter is null ? null : GgmlPromptAdapter.Load(adapter, gm);
            if (ga is not null) owned.Add(ga);
            var gl = lora is null ? null : GgmlLoraAdapter.Load(lora, gm, loraScale);
            if (gl is not null) owned.Add(gl);
            var session = new LlamaSession(gm, ga, lora: gl);
            owned.Add(session);
            tok = TokenizerLoader.ForModel(model, tokenizer);
            if (tok.VocabSize > gm.Config.VocabSize)
                throw new UserException($"--tokenizer: its vocabulary has {tok.VocabSize} pieces, the model {gm.Config.VocabSize}: expected the model's own tokenizer");
            scorer = new GgmlLogLikelihoodModel(session, batchTokens);
            modelPath = string.Join(" + ", new[] { gm.Path, adapter, lora }.Where(p => p is not null));
        }
        else
        {
            var checkpoint = LlamaCheckpoint.Open(model);
            owned.Add(checkpoint);
            tok = LoadTokenizer(tokenizer, checkpoint);
            var llama = PretrainedLlama.Load(checkpoint, scalar, dev, cts.Token);
            owned.Add(llama);
            if (tok.VocabSize > llama.Config.VocabSize)
                throw new UserException($"--tokenizer: its vocabulary has {tok.VocabSize} pieces, the model {llama.Config.VocabSize}: expected the model's own tokenizer");
            scorer = new TorchLogLikelihoodModel(llama, batchSize);
            modelPath = checkpoint.Path;
        }
        using var release = new DisposeAll(owned);
        var evaluator = new Evaluator(scorer, tok);
        var settings = new EvalSettings(names, shots, limit, seed, modelPath, Path.GetFullPath(dataDir));
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
                    report = evaluator.Run(loaded, options, settings, new InlineProgress<EvalProgress>(p =>
                    {
                        bar.MaxValue = p.Total;
                        bar.Value = p.Done;
                        bar.Description = Markup.Escape(p.Subtask);
                    }), cts.Token);
                });
        }

        if (@out is not null) EvalReportJson.Write(@out, report);
        foreach (var (task, n) in report.SkippedRecords ?? new Dictionary<string, int>())
            if (n > 0) Console.Error.WriteLine($"warning: {task}: {n} malformed records skipped (--skip-bad)");
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

    /// <summary>The reference protocol: prompts as example.py builds them, generation, check_correct on the response.</summary>
    private static async Task<int> Reference(string model, string? tokenizer, string tasks, string dataDir, int? limit, bool skipBad, string? @out, bool json,
                                             string device, string dtype, GenerationSettings settings)
    {
        var names = tasks.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Distinct().ToArray();
        foreach (var n in names)
            if (!GenerativeTasks.Names.Contains(n)) throw new UserException($"--tasks: the reference protocol has no task '{n}', expected one or more of {string.Join(", ", GenerativeTasks.Names)}");
        if (limit is <= 0) throw new UserException($"--limit: expected a positive number of documents, got {limit}");
        if (settings.MaxNewTokens <= 0 || settings.TopP is <= 0 or > 1 || settings.Temperature < 0)
            throw new UserException("--max-new-tokens must be positive, --top-p in (0, 1], --temperature ≥ 0");
        var scalar = ParseDType(dtype);
        var dev = ParseDevice(device);
        if (!Directory.Exists(dataDir)) throw new UserException($"--data-dir: folder '{dataDir}' not found");
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
        var items = new Dictionary<string, IReadOnlyList<GenerativeItem>>();
        foreach (var n in names)
        {
            var all = await GenerativeTasks.LoadAsync(n, dataDir, skipBad, cts.Token);
            items[n] = limit is { } l ? all.Take(l).ToArray() : all;
        }
        using var checkpoint = LlamaCheckpoint.Open(model);
        var tok = LoadTokenizer(tokenizer, checkpoint);
        using var llama = PretrainedLlama.Load(checkpoint, scalar, dev, cts.Token);
        var evaluator = new GenerativeEvaluator(new TorchTextGenerator(llama, tok.EosId), tok, settings);
        var results = new Dictionary<string, IReadOnlyList<GenerativeResult>>();
        foreach (var n in names) results[n] = evaluator.Run(items[n], null, cts.Token);

        var summary = names.Select(n => (Name: n, Acc: GenerativeEvaluator.Accuracy(results[n]))).ToList();
        object Report(bool withSamples) => new
        {
            settings = new { tasks = names, limit, model = checkpoint.Path, settings.Temperature, settings.TopP, settings.MaxNewTokens, settings.Seed },
            results = summary.Select(s => new { name = s.Name, acc = s.Acc.Micro.Value, stderr = s.Acc.Micro.Stderr, count = s.Acc.Micro.Count, macro = s.Acc.Macro }),
            samples = withSamples ? results : null,
        };
        var jsonOptions = new System.Text.Json.JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase };
        if (@out is not null) AtomicFile.WriteAllText(@out, System.Text.Json.JsonSerializer.Serialize(Report(true), jsonOptions));
        if (json)
        {
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(Report(false), jsonOptions));
            return 0;
        }
        var table = new Table().AddColumns("task (reference protocol)", "n", "accuracy", "± stderr", "macro over subjects");
        foreach (var s in summary)
            table.AddRow(s.Name, $"{s.Acc.Micro.Count}", s.Acc.Micro.Value.ToString("F4", CultureInfo.InvariantCulture),
                s.Acc.Micro.Stderr?.ToString("F4", CultureInfo.InvariantCulture) ?? "N/A", s.Acc.Macro?.ToString("F4", CultureInfo.InvariantCulture) ?? "");
        AnsiConsole.Write(table);
        return 0;
    }

    private static ScalarType ParseDType(string dtype) => dtype switch
    {
        "f32" => ScalarType.Float32,
        "bf16" => ScalarType.BFloat16,
        "f16" => ScalarType.Float16,
        _ => throw new UserException($"--dtype: expected f32, bf16 or f16, got '{dtype}'"),
    };

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

    /// <summary>Disposes the model pieces in reverse order of creation (session before model).</summary>
    private sealed class DisposeAll(List<IDisposable> items) : IDisposable
    {
        public void Dispose() { for (int i = items.Count - 1; i >= 0; i--) items[i].Dispose(); }
    }
}
