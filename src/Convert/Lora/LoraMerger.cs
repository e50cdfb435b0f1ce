using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats.Gguf;

namespace LlamaAdapter.Convert.Lora;

/// <summary>
/// <c>convert MODEL OUT --merge-lora LORA</c>: the base model with a LoRA merged into its weights, written as an
/// ordinary GGUF of the requested type. LORA is a LoRA GGUF (llama.cpp's convention) or a LoRA trained here
/// (extract .safetensors, training checkpoint or run folder, converted against MODEL first).
/// </summary>
public static class LoraMerger
{
    public static void Convert(string input, string lora, string output, ConvertOptions options, CancellationToken ct = default)
    {
        var source = ModelConverter.OpenSource(input);
        try
        {
            var weights = IsGguf(lora) ? LoraGguf.Read(lora) : TrainedLora.Load(lora, source.Config, LoraConverter.FormatLayout(source));
            source = new LoraMergedSource(source, weights, lora);
            ModelConverter.Convert(source, output, options, ct);
        }
        finally { source.Dispose(); }
    }

    private static bool IsGguf(string path)
    {
        if (Directory.Exists(path)) return false;   // a LoRA run folder: TrainedLora takes its newest checkpoint
        if (!File.Exists(path)) throw new BadInputException($"{path}: no such file; expected a LoRA GGUF or a LoRA .safetensors from extract");
        return GgufLayout.IsGgufFile(path);
    }
}
