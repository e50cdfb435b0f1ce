using System.Globalization;
using System.Text.Json;
using Cocona;
using LlamaAdapter.Convert.Adapters;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Adapters;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Training.Loading;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Cli.Commands;

public sealed class LogitsCommand
{
    [Command("logits", Description = "Run a model on token ids: print the next-token top-k logits; --out writes every position's logits [tokens × vocab] (float32 LE) and F.json. Example: llama-adapter logits -m model.gguf --tokens 1,450,4996 --out logits.f32")]
    public int Logits(
        [Option('m', Description = "GGUF file, HF directory (config.json + safetensors) or Meta directory (consolidated.NN.pth + params.json)")] string model,
        [Option(Description = "Comma-separated token ids, e.g. 1,450,4996")] string? tokens = null,
        [Option("prompt-ids", Description = "Alias of --tokens (older name)")] string? promptIds = null,
        [Option(Description = "How many of the highest logits to show")] int top = 5,
        [Option(Description = "Print JSON instead of a table")] bool json = false,
        [Option(Description = "cpu, cuda or cuda:N")] string device = "cpu",
        [Option(Description = "Model dtype: f32, bf16 or f16")] string dtype = "f32",
        [Option(Description = "Write every position's logits here: [tokens × vocab] float32 little-endian row-major, plus F.json with the shape")] string? @out = null,
        [Option(Description = "torch (TorchSharp; GGUF, HF or Meta) or ggml (our ggml engine; GGUF only)")] string backend = "torch",
        [Option(Description = "torch: extract .safetensors, training checkpoint or run folder, or PEFT AdaptionPrompt directory (a LoRA run too); ggml: adapter GGUF (docs/adapter-gguf.md)")] string? adapter = null,
        [Option(Description = "LoRA GGUF (llama.cpp's convention) for the ggml backend")] string? lora = null,
        [Option("lora-scale", Description = "Multiplier on the LoRA update")] float loraScale = 1f,
        [Option(Description = "CPU threads for the ggml backend (default: all cores)")] int? threads = null,
        [Option("gpu-layers", Description = GpuOffloadOption.LayersHelp)] int gpuLayers = 0,
        [Option("gpu", Description = GpuOffloadOption.DeviceHelp)] string? gpu = null,
        [Option("no-repack", Description = GpuOffloadOption.NoRepackHelp)] bool noRepack = false)
    {
        if (backend is not ("torch" or "ggml")) throw new UserException($"--backend: expected torch or ggml, got '{backend}'");
        if (lora is not null && backend != "ggml") throw new UserException("--lora: only with --backend ggml (a LoRA GGUF); with --backend torch pass the LoRA run or its extract file to --adapter");
        var offload = GpuOffloadOption.Parse(gpuLayers, gpu);
        if (!offload.IsNone && backend != "ggml") throw new UserException("--gpu-layers, --gpu: only with --backend ggml (the torch backend takes --device)");
        var ids = NextTokenLogits.ParseTokens(tokens, promptIds);
        var scalar = dtype switch
        {
            "f32" => ScalarType.Float32,
            "bf16" => ScalarType.BFloat16,
            "f16" => ScalarType.Float16,
            _ => throw new UserException($"--dtype: expected f32, bf16 or f16, got '{dtype}'"),
        };
        var dev = ParseDevice(device);
        if (top <= 0) throw new UserException($"--top: expected a positive count, got {top}");

        string path, format;
        string? adapterInfo = null;
        float[] logits; // [rows × vocab], rows = T with --out, else 1
        int vocab;
        if (backend == "ggml")
        {
            if (dtype != "f32" || device != "cpu") throw new UserException("--backend ggml computes in the GGUF's own types (on the CPU, or a GPU by --gpu-layers); drop --dtype/--device");
            if (adapter is not null && !GgufLayout.IsGgufFile(adapter))
                throw new UserException($"--adapter {adapter}: --backend ggml takes an adapter GGUF; convert it first (llama-adapter convert {adapter} adapter.gguf --base {model}) or use --backend torch, which takes it as is");
            using var gm = GgmlLlamaModel.Load(model, threads, offload, GpuOffloadOption.Repack(noRepack));
            using var ga = adapter is null ? null : GgmlPromptAdapter.Load(adapter, gm);
            using var gl = lora is null ? null : GgmlLoraAdapter.Load(lora, gm, loraScale);
            using var session = new LlamaSession(gm, ga, contextSize: Math.Max(ids.Length, 1), cacheType: GgmlType.F32, lora: gl);
            logits = session.Evaluate(ids.Select(i => checked((int)i)).ToArray(), allLogits: @out is not null);
            vocab = gm.Config.VocabSize;
            (path, format) = (gm.Path, gm.GpuDevice is { } gpuName ? $"Gguf (ggml, last {gm.GpuLayers} blocks{(offload.Layers > gm.Config.NLayers ? " + output" : "")} on {gpuName})" : "Gguf (ggml)");
            adapterInfo = adapter;
        }
        else
        {
            using var checkpoint = LlamaCheckpoint.Open(model);
            using var llama = PretrainedLlama.Load(checkpoint, scalar, dev);
            if (adapter is not null) adapterInfo = TorchAdapters.Attach(llama, model, adapter);
            logits = @out is not null ? NextTokenLogits.ComputeAll(llama, ids) : NextTokenLogits.Compute(llama, ids);
            vocab = llama.Config.VocabSize;
            (path, format) = (checkpoint.Path, checkpoint.Format.ToString());
        }
        var last = logits.AsSpan(logits.Length - vocab, vocab).ToArray();
        var best = NextTokenLogits.Top(last, Math.Min(top, vocab));
        if (@out is not null)
            NextTokenLogits.WriteMatrix(@out, logits, ids.Length, vocab, new Dictionary<string, object?>
            {
                ["model"] = path,
                ["format"] = format,
                ["backend"] = backend,
                ["dtype_compute"] = dtype,
                ["adapter"] = adapter,
                ["lora"] = lora,
                ["tokens"] = ids,
            });

        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                model = path,
                format,
                backend,
                dtype,
                device,
                adapter = adapterInfo,
                promptIds = ids,
                vocabSize = vocab,
                top = best.Select(b => new { id = b.Id, logit = b.Logit, probability = b.Probability }),
                @out,
                outShape = @out is null ? null : new[] { ids.Length, vocab },
            }, new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        Console.WriteLine($"{path} ({format}, {dtype}, {device}): next token after {ids.Length} ids, vocab {vocab}");
        if (adapterInfo is not null) Console.WriteLine($"adapter: {adapterInfo}");
        Console.WriteLine("rank       id        logit  probability");
        for (int i = 0; i < best.Count; i++)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{i + 1,4} {best[i].Id,8} {best[i].Logit,12:F6} {best[i].Probability,12:G6}"));
        if (@out is not null) Console.WriteLine($"logits [{ids.Length} × {vocab}] float32 LE: {@out} (shape in {@out}.json)");
        return 0;
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
}
