using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Training.Model;

namespace LlamaAdapter.Convert.Lora;

/// <summary>
/// A LoRA trained here (extract .safetensors or training checkpoint) plus its base model → llama.cpp's LoRA GGUF
/// (<see cref="LoraGguf"/>), which libllama applies with llama_adapter_lora_init + llama_set_adapters_lora. The base is
/// read for its shape and its format's rotary layout only; no weight of it goes into the file.
/// </summary>
public static class LoraConverter
{
    public static void Convert(string adapter, string baseModel, string output, GgmlType type, CancellationToken ct = default)
    {
        using var source = ModelConverter.OpenSource(baseModel);
        var lora = TrainedLora.Load(adapter, source.Config, FormatLayout(source));
        CheckTargets(lora, source, adapter);
        ct.ThrowIfCancellationRequested();
        LoraGguf.Write(lora, output, type, Path.GetFileNameWithoutExtension(adapter));
    }

    /// <summary>The rotary row order of a source's own wq/wk: HF half-split, Meta and GGUF interleaved.</summary>
    public static RopeLayout FormatLayout(ICheckpointSource source) => source is HfCheckpointSource ? RopeLayout.HalfSplit : RopeLayout.Interleaved;

    /// <summary>Every pair's target exists in the base, with the pair's shape (llama.cpp refuses the file otherwise).</summary>
    internal static void CheckTargets(LoraWeights lora, ICheckpointSource source, string what)
    {
        lora.CheckAgainst(source.Config, what, source.Path);
        var present = source.Tensors.Select(t => t.Id).ToHashSet();
        foreach (var p in lora.Pairs)
            if (!present.Contains(p.Target))
                throw new BadInputException($"{what}: LoRA tensor '{TensorNames.Format(p.Target, TensorNaming.Gguf)}' has no such tensor in the base model {source.Path}");
    }
}
