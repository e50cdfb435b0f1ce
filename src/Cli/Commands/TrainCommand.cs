using Cocona;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Training;
using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Loading;
using LlamaAdapter.Training.Model;
using LlamaAdapter.Training.Peft;
using LlamaAdapter.Training.Pipeline;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Cli.Commands;

public sealed class TrainCommand
{
    [Command("train", Description = "Fine-tune a prompt adapter (the paper's recipe by default), LoRA or BitFit on Alpaca data. Ctrl-C saves a checkpoint; --resume continues it. Example: llama-adapter train --model llama-7b-hf --data alpaca_data.json --out runs/nonlinear --kind nonlinear --device cuda")]
    public async Task<int> Train(
        [Option(Description = "Base model: a GGUF file, a Hugging Face folder (config.json + *.safetensors) or a Meta folder (params.json + consolidated.*.pth)")] string model,
        [Option(Description = "Alpaca data: .json array, .jsonl or .parquet with instruction, input, output")] string data,
        [Option('o', Description = "Run folder for checkpoints and metrics.jsonl")] string @out,
        [Option(Description = "SentencePiece tokenizer.model or a GGUF with tokenizer metadata (default: the GGUF model itself, or tokenizer.model in the model folder)")] string? tokenizer = null,
        [Option(Description = "prompt (a prompt adapter of --kind), lora (low-rank updates on --targets) or bitfit (zero-initialised biases on --targets, only they train)")] string method = "prompt",
        [Option(Description = "linear (LLaMA-Adapter prompts), nonlinear (the paper's hypernetwork prompts) or prefix (random-init, no gate)")] string kind = "linear",
        [Option("lora-rank", Description = "LoRA rank r")] int loraRank = 8,
        [Option("lora-alpha", Description = "LoRA alpha; the update is scaled by alpha / r")] double loraAlpha = 16,
        [Option("lora-dropout", Description = "Dropout on the LoRA branch's input while training")] double loraDropout = 0.05,
        [Option(Description = "Projections for lora/bitfit: comma-separated wq,wk,wv,wo,w1,w2,w3 or all (default: wq,wv for lora, all for bitfit)")] string? targets = null,
        [Option("prompt-len", Description = "L: prompt vectors per adapter layer")] int promptLen = 10,
        [Option(Description = "K: adapters on the last K layers (30 for 7B, 38 for 13B)")] int layers = 30,
        [Option(Description = "Hypernetwork hidden width (nonlinear; 0 = one-layer)")] int hidden = 64,
        [Option(Description = "Hypernetwork activation: relu, leakyrelu, gelu, tanh, sigmoid (nonlinear)")] string activation = "relu",
        [Option(Description = "Epochs")] int epochs = 5,
        [Option("warmup-epochs", Description = "Linear warm-up epochs before the half cosine")] double warmupEpochs = 2,
        [Option("batch-size", Description = "Examples per forward/backward")] int batchSize = 16,
        [Option(Description = "Micro-batches per optimizer step (default: effective-batch / batch-size)")] int? accum = null,
        [Option("effective-batch", Description = "Examples per optimizer step; the paper's 4 GPUs × 16 = 64")] int? effectiveBatch = null,
        [Option(Description = "Base learning rate; peak lr = blr × effective batch / 256")] double blr = 9e-3,
        [Option("weight-decay", Description = "AdamW decoupled weight decay (every trainable tensor of 2+ dims, gates included)")] double weightDecay = 0.02,
        [Option("max-seq-len", Description = "Tokens per example (padded or cut)")] int maxSeqLen = 512,
        [Option("max-examples", Description = "Use only the first N records")] int? maxExamples = null,
        [Option("train-fraction", Description = "Train on a seeded random fraction of the records (data-efficiency runs)")] double trainFraction = 1.0,
        [Option(Description = "Seed for the adapter's initialisation and the data order")] long seed = 0,
        [Option(Description = "cpu, cuda or cuda:N (default cpu)")] string? device = null,
        [Option(Description = "Data parallel over several devices, e.g. cuda:0,cuda:1: a frozen replica on each, every optimizer step's --accum micro-batches shared among them (--accum a multiple of the count), gradients summed on the first; same recipe and checkpoints as one device")] string? devices = null,
        [Option(Description = "Frozen base dtype: auto (float16 on CUDA, float32 on CPU), float32, bfloat16, float16")] string dtype = "auto",
        [Option("save-every", Description = "Also checkpoint every N optimizer steps (0: each epoch's end only)")] int saveEvery = 0,
        [Option(Description = "Continue from a checkpoint file or run folder (same recipe, data and base model)")] string? resume = null,
        [Option(Description = "Clip the gradient's global L2 norm to this value (the reference does not clip)")] double? clip = null,
        [Option("skip-bad", Description = "Skip malformed data records (counted) instead of stopping at the first")] bool skipBad = false)
    {
        if (device is not null && devices is not null) throw new UserException("give --device (one device) or --devices (data parallel), not both");
        IReadOnlyList<Device> devs = devices is null ? [TorchRuntime.ParseDevice(device ?? "cpu")] : TorchRuntime.ParseDevices(devices);
        var dev = devs[0];
        var scalar = ParseDType(dtype, dev);
        var peft = ParseMethod(method, loraRank, loraAlpha, loraDropout, targets);
        var adapter = ParseAdapter(kind, promptLen, layers, hidden, activation);
        int accumSteps = AccumSteps(batchSize, accum, effectiveBatch);
        if (accumSteps % devs.Count != 0)
            throw new UserException($"--accum {accumSteps} (micro-batches per optimizer step) is not a multiple of the {devs.Count} devices of --devices {devices}: each device runs an equal share of a step; choose --accum or --effective-batch accordingly");
        // CPU replicas draw LoRA dropout masks from torch's one CPU generator in whatever order their threads reach it.
        if (peft is LoraConfig { Dropout: > 0 } && devs.Count(d => d.type == DeviceType.CPU) > 1)
            throw new UserException($"--devices {devices} with --lora-dropout {loraDropout}: CPU replicas share one random generator, so dropout would depend on thread timing; use --lora-dropout 0 or one device");
        var options = new TrainerOptions
        {
            Epochs = epochs, WarmupEpochs = warmupEpochs, BatchSize = batchSize, AccumSteps = accumSteps, BaseLr = blr,
            WeightDecay = weightDecay, ClipNorm = clip, Seed = seed, SaveEvery = saveEvery,
        };
        options.Validate();
        ITokenizer tok = TokenizerLoader.ForModel(model, tokenizer);

        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (cts.IsCancellationRequested) return;          // a second Ctrl-C ends the process
            e.Cancel = true;
            cts.Cancel();
            AnsiConsole.MarkupLine("[yellow]stopping: finishing with a checkpoint of the last completed step…[/]");
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            AnsiConsole.MarkupLineInterpolated($"loading {model} ({scalar} on {dev})…");
            using var llama = PretrainedLlama.Load(model, scalar, dev, cts.Token);
            if (tok.VocabSize != llama.Config.VocabSize)
                throw new UserException($"{tokenizer ?? model}: the tokenizer has {tok.VocabSize} pieces; the model has a vocabulary of {llama.Config.VocabSize}");
            (IReadOnlyDictionary<string, string> Description, string What) Attach(LlamaModel m)
            {
                using var g = new Generator(unchecked((ulong)seed));
                switch (peft)
                {
                    case LoraConfig lora:
                        m.AttachLora(lora, g);
                        return (PeftDescription.Describe(m, lora), $"LoRA r={lora.Rank} alpha={lora.Alpha} dropout={lora.Dropout} on {Projections.Format(lora.TargetList)}");
                    case BitFitConfig bitFit:
                        m.AttachBitFit(bitFit);
                        return (PeftDescription.Describe(m.Config, bitFit), $"BitFit biases on {Projections.Format(bitFit.TargetList)}");
                    default:
                        m.AttachNewAdapter(adapter.Validate(m.Config.NLayers), g);
                        return (AdapterDescription.Describe(m, adapter), $"{adapter.Kind} adapter");
                }
            }
            var (description, what) = Attach(llama);

            // One frozen replica per further device, from the master's weights (shared on the same device).
            var replicas = new List<LlamaModel>();
            try
            {
                foreach (var d in devs.Skip(1))
                {
                    AnsiConsole.MarkupLineInterpolated($"replica on {d}…");
                    var r = ReplicaSet.FrozenCopy(llama, d);
                    replicas.Add(r);
                    Attach(r);
                }
                var set = new ReplicaSet([llama, .. replicas]);
                var settings = new TrainRunSettings(data, @out, options, maxSeqLen, maxExamples, trainFraction, Resume: resume, SkipBad: skipBad);
                var (trainer, from) = await TrainRun.PrepareAsync(settings, set, tok, description,
                                                                  AdapterDescription.GateReader(llama), cts.Token);
                using (trainer)
                {
                    long trainable = llama.TrainableParameters().Sum(p => p.Parameter.numel());
                    string parallel = devs.Count > 1 ? $"; data parallel over {string.Join(", ", devs)}, {accumSteps / devs.Count} micro-batches each per step" : "";
                    AnsiConsole.MarkupLineInterpolated($"{what}, {trainable:N0} trainable parameters; {trainer.StepsPerEpoch} steps per epoch × {epochs}, peak lr {options.PeakLr:0.####e0}{parallel}{(from is null ? "" : $"; resuming {from} at step {trainer.Step}")}");
                    if (trainer.SkippedRecords > 0)
                        AnsiConsole.MarkupLineInterpolated($"[yellow]--skip-bad: {trainer.SkippedRecords} malformed records of {data} skipped[/]");
                    var result = RunWithProgress(trainer, @out, epochs, cts.Token);
                    if (result.ValidationLosses.Count > 0)
                        AnsiConsole.MarkupLineInterpolated($"validation loss per epoch: {string.Join(", ", result.ValidationLosses.Select(v => v.ToString("0.0000")))}");
                    if (result.Stopped)
                    {
                        AnsiConsole.MarkupLineInterpolated($"[yellow]stopped at step {result.Steps}/{result.TotalSteps}[/]; checkpoint {result.LastCheckpoint}; continue with --resume {@out}");
                        return 130;
                    }
                    AnsiConsole.MarkupLineInterpolated($"[green]done[/]: {result.Steps} steps; checkpoint {result.LastCheckpoint}; adapter file: llama-adapter extract {@out} --out adapter.safetensors");
                    return 0;
                }
            }
            finally
            {
                foreach (var r in replicas) r.Dispose();
            }
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static TrainingResult RunWithProgress(Trainer trainer, string runDir, int epochs, CancellationToken ct)
    {
        try
        {
            return AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("training", maxValue: trainer.TotalSteps);
                    task.Value = trainer.Step;
                    return trainer.Run(runDir, new InlineProgress<TrainingProgress>(p =>
                    {
                        task.Value = p.Step;
                        task.Description = $"epoch {p.Epoch + 1}/{epochs} loss {p.Loss:0.0000} lr {p.Lr:0.00e0} {p.TokensPerSecond:0} tok/s";
                    }), ct);
                });
        }
        catch (TrainingDivergedException e)
        {
            throw new UserException($"{e.Message}; the last checkpoint in {runDir} is from before it");
        }
    }

    private static int AccumSteps(int batchSize, int? accum, int? effectiveBatch)
    {
        if (batchSize < 1) throw new UserException($"--batch-size {batchSize}: expected at least 1");
        if (accum is { } a)
        {
            if (effectiveBatch is { } e && e != a * batchSize)
                throw new UserException($"--accum {a} × --batch-size {batchSize} = {a * batchSize}, but --effective-batch is {e}; give one of them");
            return a;
        }
        int eff = effectiveBatch ?? 64;
        if (eff < batchSize || eff % batchSize != 0)
            throw new UserException($"--effective-batch {eff}: expected a multiple of --batch-size {batchSize}");
        return eff / batchSize;
    }

    private static ScalarType ParseDType(string name, Device dev) => name.ToLowerInvariant() switch
    {
        "auto" => dev.type == DeviceType.CUDA ? ScalarType.Float16 : ScalarType.Float32,
        "float32" or "f32" => ScalarType.Float32,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        "float16" or "f16" => ScalarType.Float16,
        _ => throw new UserException($"--dtype '{name}': expected auto, float32, bfloat16 or float16"),
    };

    /// <summary>null for the prompt kinds; a <see cref="LoraConfig"/> or <see cref="BitFitConfig"/> otherwise.</summary>
    private static object? ParseMethod(string method, int rank, double alpha, double dropout, string? targets)
    {
        IReadOnlyList<Projection>? Targets()
        {
            try { return targets is null ? null : Projections.Parse(targets, "--targets"); }
            catch (ArgumentException e) { throw new UserException(e.Message); }
        }
        switch (method.ToLowerInvariant())
        {
            case "prompt":
                if (targets is not null) throw new UserException("--targets applies to --method lora or bitfit, not prompt");
                return null;
            case "lora":
                if (rank < 1) throw new UserException($"--lora-rank {rank}: expected at least 1");
                if (!double.IsFinite(alpha) || alpha <= 0) throw new UserException($"--lora-alpha {alpha}: expected a positive number");
                if (!(dropout >= 0 && dropout < 1)) throw new UserException($"--lora-dropout {dropout}: expected 0 <= p < 1");
                return new LoraConfig(rank, alpha, dropout, Targets());
            case "bitfit":
                return new BitFitConfig(Targets());
            default:
                throw new UserException($"--method '{method}': expected prompt, lora or bitfit");
        }
    }

    private static AdapterConfig ParseAdapter(string kind, int promptLen, int layers, int hidden, string activation)
    {
        var k = kind.ToLowerInvariant() switch
        {
            "linear" => AdapterKind.Linear,
            "nonlinear" or "non-linear" => AdapterKind.Nonlinear,
            "prefix" => AdapterKind.Prefix,
            _ => throw new UserException($"--kind '{kind}': expected linear, nonlinear or prefix"),
        };
        var act = activation.Replace("_", "").Replace("-", "").ToLowerInvariant() switch
        {
            "relu" => HyperActivation.Relu,
            "leakyrelu" => HyperActivation.LeakyRelu,
            "gelu" => HyperActivation.Gelu,
            "tanh" => HyperActivation.Tanh,
            "sigmoid" => HyperActivation.Sigmoid,
            _ => throw new UserException($"--activation '{activation}': expected relu, leakyrelu, gelu, tanh or sigmoid"),
        };
        if (promptLen < 1) throw new UserException($"--prompt-len {promptLen}: expected at least 1");
        if (layers < 1) throw new UserException($"--layers {layers}: expected at least 1");
        if (hidden < 0) throw new UserException($"--hidden {hidden}: expected >= 0");
        return new AdapterConfig(k, promptLen, layers, GateMode.PerHeadTanh, HyperHidden: hidden, HyperActivation: act);
    }
}
