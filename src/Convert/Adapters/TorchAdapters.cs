using System.Globalization;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Convert.Lora;
using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Checkpoints;
using LlamaAdapter.Training.Model;
using LlamaAdapter.Training.Peft;
using LlamaAdapter.Training.Pipeline;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Convert.Adapters;

/// <summary>
/// Puts a trained adapter on a TorchSharp <see cref="LlamaModel"/> for inference (the <c>logits</c> command's
/// <c>--backend torch --adapter</c>): an extract .safetensors, a training checkpoint or run folder (its newest
/// checkpoint), or a PEFT AdaptionPrompt directory, read by the same loaders <see cref="AdapterConverter"/> uses, so
/// the torch path and the adapter GGUF on the ggml engine see the same prompts, gates and gate mode. A prompt adapter
/// trained on another base (adapter.base.wkv_sha256, computed from the base file as the converter does) is refused.
/// A LoRA run's A/B go onto the projections (alpha/r as llama.cpp scales it); BitFit is refused.
/// </summary>
public static class TorchAdapters
{
    /// <summary>Attaches <paramref name="adapter"/> to <paramref name="model"/>, loaded from <paramref name="modelPath"/>; returns a one-line description.</summary>
    public static string Attach(LlamaModel model, string modelPath, string adapter)
    {
        var c = model.Config;
        if (Directory.Exists(adapter) && File.Exists(Path.Combine(adapter, "adapter_config.json")))
        {
            var (config, peft, _, _, _) = AdapterConverter.LoadPeft(adapter, c);
            Attach(model, peft, adapter);
            return $"PEFT AdaptionPrompt {adapter}: {Describe(config)}";
        }

        string file = Directory.Exists(adapter) ? ResolveRun(adapter) : adapter;
        if (!File.Exists(file)) throw new BadInputException($"{adapter}: no such file or directory; expected an adapter .safetensors (extract), a training checkpoint or run folder, or a PEFT AdaptionPrompt directory");
        if (GgufLayout.IsGgufFile(file))
            throw new BadInputException($"{file}: is a GGUF; an adapter GGUF runs on --backend ggml (--adapter for a prompt adapter, --lora for a LoRA). " +
                                        "--backend torch takes the extract .safetensors, a training checkpoint/run folder or a PEFT directory");
        Dictionary<string, string> md;
        using (var r = SafetensorsReader.Open(file)) md = new(r.Metadata, StringComparer.Ordinal);
        string kind = md.TryGetValue("adapter.kind", out var k) ? k
            : throw new BadInputException($"{file}: __metadata__ field 'adapter.kind' is missing; expected an adapter written by extract or a training checkpoint");
        if (kind == PeftDescription.LoraKind) return AttachLora(model, file);
        if (kind == PeftDescription.BitFitKind)
            throw new BadInputException($"{file}: adapter.kind is 'bitfit'; the logits command takes prompt adapters and LoRA runs, not BitFit biases");

        var f = md.TryGetValue("format", out var format) && format == TrainingCheckpoint.FormatName ? FromCheckpoint(file) : AdapterFile.Load(file);
        var (a, prompt, _, expectedSha, _) = AdapterConverter.LoadExtract(f, c);
        string sha = BaseWkvSha256(modelPath, c.NLayers - a.Layers);
        if (!string.Equals(sha, expectedSha, StringComparison.OrdinalIgnoreCase))
            throw new BadInputException($"{modelPath}: the base model's wk/wv fingerprint (layers {c.NLayers - a.Layers}..{c.NLayers - 1}) is {sha}, " +
                                        $"but {file} (adapter.base.wkv_sha256) was trained on a base with {expectedSha}: the adapter is for another model");
        Attach(model, prompt, file);
        return $"{file}: {Describe(a)}";
    }

    /// <summary>A run folder's newest checkpoint-step&lt;N&gt;.safetensors.</summary>
    private static string ResolveRun(string dir) =>
        CheckpointDirectory.List(dir) is { Count: > 0 } all ? all[^1].Path
            : throw new BadInputException($"{dir}: holds neither adapter_config.json (a PEFT AdaptionPrompt directory) nor checkpoint-step<N>.safetensors (a training run folder)");

    /// <summary>A training checkpoint seen as extract would write it: the adapter.* metadata and the trainables (param/* without the prefix).</summary>
    private static AdapterFile FromCheckpoint(string path)
    {
        var ckpt = TrainingCheckpoint.Load(path);
        var config = AdapterDescription.Parse(ckpt.Adapter, path);
        var tensors = ckpt.Parameters.ToDictionary(kv => kv.Key, kv => (kv.Value.Shape, kv.Value.AsFloats()), StringComparer.Ordinal);
        return new AdapterFile(path, config, AdapterExtractor.Metadata(ckpt), tensors);
    }

    private static void Attach(LlamaModel model, PromptAdapter adapter, string origin)
    {
        if (model.Options.TargetDevice.type != DeviceType.CPU) adapter.to(model.Options.TargetDevice);
        try { model.AttachAdapter(adapter); }
        catch (ArgumentException e)
        {
            // PEFT prompts are keyed through HF's wk (half-split rows): they need the model in that layout.
            throw new BadInputException($"{origin}: cannot go on this model ({e.Message}); a PEFT AdaptionPrompt adapter needs the base as an HF directory", e);
        }
    }

    /// <summary>docs/adapter-gguf.md's base check over the base file's wk/wv, as <see cref="AdapterConverter"/> computes it (independent of --dtype).</summary>
    private static string BaseWkvSha256(string modelPath, int first)
    {
        using var source = ModelConverter.OpenSource(modelPath);
        return AdapterConverter.WkvSha256(source, first);
    }

    /// <summary>
    /// A LoRA run: TrainedLora checks the base shape and gives B in Meta row order; a model in HF layout gets B's
    /// wq/wk rows back in half-split order. Scale alpha/r (B·A alone when alpha is 0), as llama.cpp applies the GGUF.
    /// </summary>
    private static string AttachLora(LlamaModel model, string file)
    {
        var c = model.Config;
        var lora = TrainedLora.Load(file, c, model.Options.Layout);
        var (dtype, device) = (model.Options.AdapterDType, model.Options.TargetDevice);
        foreach (var p in lora.Pairs)
        {
            var target = TrainedLora.ProjectionOf(p.Target.Kind)
                ?? throw new BadInputException($"{file}: LoRA target {p.Target.Kind} is not a projection");
            float[] b = p.B;
            if (model.Options.Layout == RopeLayout.HalfSplit && target is Projection.Wq or Projection.Wk)
                b = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(
                    RotaryPermutation.MetaToHf(AdapterFile.Bytes(b), checked((int)p.Out), target == Projection.Wq ? c.NHeads : c.NKvHeads)).ToArray();
            var m = model.ProjectionAt(p.Target.Layer, target);
            m.AttachLora(new TorchSharp.Modules.Parameter(tensor(p.A, [p.Rank, p.In]).to(dtype, device), requires_grad: false),
                         new TorchSharp.Modules.Parameter(tensor(b, [p.Out, p.Rank]).to(dtype, device), requires_grad: false),
                         lora.Scale(p), dropout: 0);
        }
        return string.Create(CultureInfo.InvariantCulture, $"{file}: LoRA, {lora.Pairs.Count} projections, rank {lora.Pairs.FirstOrDefault()?.Rank}, alpha {lora.Alpha}");
    }

    private static string Describe(AdapterConfig a) =>
        string.Create(CultureInfo.InvariantCulture, $"{AdapterFile.Snake(a.Kind.ToString())} adapter, K={a.Layers} layers, L={a.PromptLength} prompts{(a.Kind == AdapterKind.Prefix ? "" : ", gate " + AdapterFile.Snake(a.Gate.ToString()))}");
}
