using System.Diagnostics;
using System.Text.Json;
using LlamaAdapter.Convert;
using LlamaAdapter.Convert.Adapters;
using LlamaAdapter.Convert.Lora;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Data;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Evaluation.Generative;
using LlamaAdapter.Evaluation.Scoring;
using LlamaAdapter.Inference.Adapters;
using LlamaAdapter.Inference.Generation;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Inference.Sampling;
using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Checkpoints;
using LlamaAdapter.Training.Loading;
using LlamaAdapter.Training.Metrics;
using LlamaAdapter.Training.Model;
using LlamaAdapter.Training.Peft;
using LlamaAdapter.Training.Pipeline;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Demo;

/// <summary>
/// The paper's experiment in miniature, end to end: a small LLaMA trained from scratch on the synthetic
/// <see cref="SyntheticTasks.Pretraining"/> skills; linear, non-linear and prefix prompt adapters (and LoRA and BitFit)
/// tuned on a few hundred examples of the <see cref="SyntheticTasks.HeldApart"/> tasks with the real training
/// pipeline; base and adapters converted to GGUF (the base to Q8_0); held-out questions answered by the ggml engine
/// and scored as a multiple-choice set; loss curves in one PNG. Deterministic for a seed (one thread of libtorch).
/// </summary>
public sealed class DemoRunner(DemoSettings settings, string outDir, IProgress<DemoProgress>? progress = null)
{
    private const int MaxAnswerTokens = 16;  // the longest answer (twelve letters) and EOS, with room to spare
    private readonly DemoSettings _s = settings;

    public async Task<DemoResult> RunAsync(CancellationToken ct = default)
    {
        // These shapes are far too small for libtorch's intra-op threads to pay: one thread is faster, does not
        // collapse when the cores are shared (OpenMP spin-waits), and makes the run bit-reproducible.
        int threads = get_num_threads();
        set_num_threads(1);
        try { return await RunCoreAsync(ct); }
        finally { set_num_threads(threads); }
    }

    private async Task<DemoResult> RunCoreAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(outDir);
        string Path_(params string[] parts) => Path.Combine([outDir, .. parts]);
        var tokenizerMetadata = DemoVocabulary.Metadata();
        ITokenizer tokenizer = _s.BaseModel is { } real ? TokenizerLoader.ForModel(real) : LlamaVocabTokenizer.FromGguf(tokenizerMetadata);

        // The data, as files a user can open and reuse with `train`.
        Directory.CreateDirectory(Path_("data"));
        string adapterData = Path_("data", _s.Data is null ? "held-apart-tasks.json" : "train.json");
        List<SyntheticTasks.Item> items;
        if (_s.Data is { } dataFile)
        {
            var records = (await AlpacaDataReader.LoadAsync(dataFile, ct: ct)).Examples;
            if (records.Count < _s.EvalItems + _s.ValidationExamples + _s.BatchSize)
                throw new BadInputException($"{dataFile}: {records.Count} records; the demo needs at least {_s.EvalItems + _s.ValidationExamples + _s.BatchSize} ({_s.EvalItems} held out, {_s.ValidationExamples} for validation, a batch to train)");
            int train = Math.Min(records.Count - _s.EvalItems, _s.AdapterExamples + _s.ValidationExamples);
            WriteAlpaca(adapterData, records.Take(train));
            items = SyntheticTasks.ItemsFrom(records.Skip(records.Count - _s.EvalItems).ToList(), _s.Seed * 7919 + 3);
        }
        else
        {
            WriteAlpaca(adapterData, SyntheticTasks.Examples(SyntheticTasks.HeldApart, _s.AdapterExamples + _s.ValidationExamples, _s.Seed * 7919 + 2));
            items = SyntheticTasks.Items(SyntheticTasks.HeldApart, _s.EvalItems, _s.Seed * 7919 + 3);
        }
        AtomicFile.WriteAllText(Path_("data", "held-out-questions.json"), JsonSerializer.Serialize(items.Select(i => new
        {
            task = i.Task, instruction = i.Example.Instruction, input = i.Example.Input, output = i.Example.Output, choices = i.Choices, gold = i.Gold,
        }), JsonOptions));

        // 1. The base model: trained from scratch on the synthetic skills, or the user's.
        string baseModel, baseQ8 = Path_("base", "base-q8_0.gguf");
        double pretrainSeconds = 0;
        if (_s.BaseModel is { } given) baseModel = given;
        else
        {
            baseModel = Path_("base", "base-f32.gguf");
            string pretrainData = Path_("data", "pretrain.json");
            WriteAlpaca(pretrainData, SyntheticTasks.Examples(SyntheticTasks.Pretraining, _s.PretrainExamples + _s.ValidationExamples, _s.Seed * 7919 + 1));
            var clock = Stopwatch.StartNew();
            using var model = NewRandomModel();
            foreach (var p in model.parameters()) p.requires_grad = true;
            var pretrainOptions = new TrainerOptions
            {
                Epochs = _s.PretrainEpochs, WarmupEpochs = 0.1 * _s.PretrainEpochs, BatchSize = _s.PretrainBatchSize, AccumSteps = 1,
                WeightDecay = 0.01, Seed = _s.Seed, BaseLr = _s.PretrainPeakLr * 256 / _s.PretrainBatchSize,
            };
            await TrainAsync("pretraining the base model", model, tokenizer, pretrainData, Path_("base", "run"), pretrainOptions,
                             new Dictionary<string, string> { ["kind"] = "full" }, null, ct);
            DemoGguf.Write(model, baseModel, tokenizerMetadata);
            pretrainSeconds = clock.Elapsed.TotalSeconds;
        }
        Report("converting the base model to GGUF Q8_0", 0, 1);
        Directory.CreateDirectory(Path_("base"));
        ModelConverter.Convert(baseModel, baseQ8, new ConvertOptions(OutputType.Q8_0), ct);
        Report("converting the base model to GGUF Q8_0", 1, 1);

        // 2. Each method on the held-apart tasks.
        var rows = new List<DemoRow>();
        var curves = new List<LossCurve>();
        foreach (var method in _s.Methods)
        {
            ct.ThrowIfCancellationRequested();
            rows.Add(method == DemoMethod.Frozen
                ? Evaluate(method, 0, 0, await FrozenValidationLossAsync(baseModel, adapterData, tokenizer, ct), baseQ8, null, items, tokenizer, ct)
                : await TuneAndEvaluateAsync(method, baseModel, baseQ8, adapterData, Path_(Name(method)), tokenizer, items, curves, ct));
        }

        string? plot = curves.Count > 0 ? Path_("loss-curves.png") : null;   // nothing trained: no curves to draw
        if (plot is not null)
            LossCurvePlot.Save(curves, plot, "Held-apart tasks: training loss (lines), validation loss (circles)", smoothing: 0.6);
        var result = new DemoResult(outDir, baseModel, baseQ8, plot, pretrainSeconds, rows);
        AtomicFile.WriteAllText(Path_("results.json"), JsonSerializer.Serialize(result, JsonOptions));
        return result;
    }

    private async Task<DemoRow> TuneAndEvaluateAsync(DemoMethod method, string baseModel, string baseQ8, string data, string dir, ITokenizer tokenizer,
                                                    IReadOnlyList<SyntheticTasks.Item> items,
                                                    List<LossCurve> curves, CancellationToken ct)
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); // a re-run starts the method afresh
        Directory.CreateDirectory(dir);
        using var model = PretrainedLlama.Load(baseModel, cancellationToken: ct);
        IReadOnlyDictionary<string, string> description;
        Func<IReadOnlyDictionary<int, float[]>>? gates = null;
        double peakLr = _s.PromptPeakLr;
        using (var g = new Generator((ulong)(_s.Seed + 17)))
            switch (method)
            {
                case DemoMethod.Lora:
                    var lora = new LoraConfig(_s.LoraRank, 2.0 * _s.LoraRank, 0.0, Projections.All);
                    model.AttachLora(lora, g);
                    description = PeftDescription.Describe(model, lora);
                    peakLr = _s.LoraPeakLr;
                    break;
                case DemoMethod.BitFit:
                    var bitFit = new BitFitConfig();
                    model.AttachBitFit(bitFit);
                    description = PeftDescription.Describe(model.Config, bitFit);
                    break;
                default:
                    var kind = method switch { DemoMethod.Linear => AdapterKind.Linear, DemoMethod.Nonlinear => AdapterKind.Nonlinear, _ => AdapterKind.Prefix };
                    var config = new AdapterConfig(kind, _s.PromptLength, _s.AdapterLayers).Validate(model.Config.NLayers);
                    model.AttachNewAdapter(config, g);
                    description = AdapterDescription.Describe(model, config);
                    gates = AdapterDescription.GateReader(model);
                    break;
            }
        long trainable = model.TrainableParameters().Sum(p => p.Parameter.numel());
        var options = new TrainerOptions
        {
            Epochs = _s.AdapterEpochs, WarmupEpochs = _s.AdapterWarmupEpochs, BatchSize = _s.BatchSize, AccumSteps = 1,
            BaseLr = peakLr * 256 / _s.BatchSize, WeightDecay = 0.02, Seed = _s.Seed,
        };
        var clock = Stopwatch.StartNew();
        var result = await TrainAsync($"tuning {Name(method)}", model, tokenizer, data, Path.Combine(dir, "run"), options, description, gates, ct);
        double seconds = clock.Elapsed.TotalSeconds;
        curves.Add(new LossCurve(Name(method), MetricsLog.Read(Path.Combine(dir, "run", "metrics.jsonl"))));

        string adapterFile = Path.Combine(dir, "adapter.safetensors");
        AdapterExtractor.Extract(result.LastCheckpoint!, adapterFile);
        double? val = result.ValidationLosses.Count > 0 ? result.ValidationLosses[^1] : null;
        switch (method)
        {
            case DemoMethod.BitFit:
                // A llama GGUF has no place for biases our engine reads, so BitFit is scored on the TorchSharp model.
                model.eval();
                return EvaluateTorch(method, trainable, seconds, val, model, items, tokenizer, ct);
            case DemoMethod.Lora:
            {
                // llama.cpp's LoRA GGUF (what `convert --base` writes for a LoRA run), applied by the engine at run time
                // beside the Q8_0 base, as llama.cpp's --lora does.
                string loraGguf = Path.Combine(dir, "lora.gguf");
                LoraConverter.Convert(adapterFile, baseModel, loraGguf, GgmlType.F32, ct);
                return Evaluate(method, trainable, seconds, val, baseQ8, null, items, tokenizer, ct, loraGguf);
            }
            default:
            {
                // The prompts are projected through the F32 base's wk/wv; the engine runs them beside the Q8_0 base.
                string adapterGguf = Path.Combine(dir, "adapter.gguf");
                AdapterConverter.Convert(adapterFile, baseModel, adapterGguf, ct);
                return Evaluate(method, trainable, seconds, val, baseQ8, adapterGguf, items, tokenizer, ct);
            }
        }
    }

    /// <summary>
    /// The frozen model's loss on the validation records the methods report theirs on: measured through a linear
    /// adapter whose gates are zero, which leaves every logit exactly as the frozen model's (tanh(0)·prompt = 0).
    /// </summary>
    private async Task<double?> FrozenValidationLossAsync(string baseModel, string data, ITokenizer tokenizer, CancellationToken ct)
    {
        using var model = PretrainedLlama.Load(baseModel, cancellationToken: ct);
        var identity = new AdapterConfig(AdapterKind.Linear, PromptLength: 1, Layers: 1);
        model.AttachNewAdapter(identity);
        var options = new TrainerOptions { Epochs = 1, WarmupEpochs = 0, BatchSize = _s.BatchSize, AccumSteps = 1, Seed = _s.Seed };
        var settings = new TrainRunSettings(data, Path.Combine(outDir, "frozen"), options, _s.MaxSeqLen, ValidationCount: _s.ValidationExamples);
        var (trainer, _) = await TrainRun.PrepareAsync(settings, model, tokenizer, AdapterDescription.Describe(model, identity), null, ct);
        using (trainer) return trainer.Validate(_s.AdapterEpochs - 1); // the batches of the methods' last validation
    }

    private DemoRow Evaluate(DemoMethod method, long trainable, double seconds, double? val, string gguf, string? adapter,
                             IReadOnlyList<SyntheticTasks.Item> items, ITokenizer tokenizer, CancellationToken ct, string? lora = null)
    {
        using var model = GgmlLlamaModel.Load(gguf, _s.Threads ?? 1);   // one thread: see RunAsync
        using var prompts = adapter is null ? null : GgmlPromptAdapter.Load(adapter, model);
        using var loraAdapter = lora is null ? null : GgmlLoraAdapter.Load(lora, model);
        using var session = new LlamaSession(model, prompts, lora: loraAdapter);
        var generator = new TextGenerator(session, tokenizer);
        var options = new GenerationOptions(MaxAnswerTokens) { Sampling = SamplingOptions.Greedy };
        string Generate(string prompt) => generator.Generate(prompt, options, null, ct).Text;
        var answers = HeldOutScorer.Score(items, tokenizer, Generate, new GgmlLogLikelihoodModel(session),
                                          EvalProgress(method, items.Count), ct);
        return Row(method, trainable, seconds, val, $"ggml, Q8_0{(adapter is null ? "" : " + adapter")}{(lora is null ? "" : " + LoRA")}", answers);
    }

    private DemoRow EvaluateTorch(DemoMethod method, long trainable, double seconds, double? val, LlamaModel model,
                                  IReadOnlyList<SyntheticTasks.Item> items, ITokenizer tokenizer, CancellationToken ct)
    {
        var generator = new TorchTextGenerator(model, tokenizer.EosId);
        var settings = new GenerationSettings(Temperature: 0, MaxNewTokens: MaxAnswerTokens);
        string Generate(string prompt) => tokenizer.Decode(generator.Generate(tokenizer.Encode(prompt, addBos: true, addEos: false), settings, ct).ToArray());
        var answers = HeldOutScorer.Score(items, tokenizer, Generate, new TorchLogLikelihoodModel(model), EvalProgress(method, items.Count), ct);
        return Row(method, trainable, seconds, val, "TorchSharp, f32", answers);
    }

    private static DemoRow Row(DemoMethod method, long trainable, double seconds, double? val, string engine, List<DemoAnswer> answers) =>
        new(method, trainable, seconds, val, answers.Count(a => a.GenerationCorrect) / (double)answers.Count,
            answers.Count(a => a.ChoiceCorrect) / (double)answers.Count, engine, answers);

    private IProgress<int> EvalProgress(DemoMethod method, int total) =>
        new InlineProgress<int>(done => Report($"answering held-out questions: {Name(method)}", done, total));

    private async Task<TrainingResult> TrainAsync(string stage, LlamaModel model, ITokenizer tokenizer, string data, string runDir,
                                                  TrainerOptions options, IReadOnlyDictionary<string, string> description,
                                                  Func<IReadOnlyDictionary<int, float[]>>? gates, CancellationToken ct)
    {
        if (Directory.Exists(runDir)) Directory.Delete(runDir, recursive: true);
        var settings = new TrainRunSettings(data, runDir, options, _s.MaxSeqLen, ValidationCount: _s.ValidationExamples);
        var (trainer, _) = await TrainRun.PrepareAsync(settings, model, tokenizer, description, gates, ct);
        using (trainer)
        {
            var result = trainer.Run(runDir, new InlineProgress<TrainingProgress>(p => Report(stage, p.Step, p.TotalSteps, $"loss {p.Loss:0.000}")), ct);
            ct.ThrowIfCancellationRequested();
            return result;
        }
    }

    private LlamaModel NewRandomModel()
    {
        var w = TinyLlamaFactory.Create(_s.Model, _s.Seed + 1);
        var tensors = w.Data.ToDictionary(kv => kv.Key, kv => tensor(kv.Value, w.Shapes[kv.Key]), StringComparer.Ordinal);
        try { return new LlamaModel(_s.Model, tensors, new LlamaModelOptions(RopeLayout.Interleaved), "the demo's random init"); }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }

    private void Report(string stage, long done, long total, string? detail = null) => progress?.Report(new DemoProgress(stage, done, total, detail));

    public static string Name(DemoMethod m) => m switch
    {
        DemoMethod.Frozen => "frozen", DemoMethod.Linear => "linear", DemoMethod.Nonlinear => "nonlinear",
        DemoMethod.Prefix => "prefix", DemoMethod.Lora => "lora", _ => "bitfit",
    };

    private static void WriteAlpaca(string path, IEnumerable<AlpacaExample> examples) =>
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(examples.Select(e => new { instruction = e.Instruction, input = e.Input, output = e.Output }), JsonOptions));

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };
}
