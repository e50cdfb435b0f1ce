namespace LlamaAdapter.Inference.Model;

/// <summary>
/// llama.cpp's <c>--gpu-layers</c>: the last <see cref="Layers"/> repeating blocks (with their KV cache, prompt-adapter
/// keys/values and LoRA pairs) go to the GPU; more than the model's block count also puts the output norm and output
/// matrix there. Token embeddings stay on the CPU (a row gather, as llama.cpp keeps them). 0 runs on the CPU alone.
/// </summary>
/// <param name="Device">a ggml device name (Vulkan0, CUDA0, ...); default: the first GPU-type device in ggml's registry.</param>
public sealed record GpuOffload(int Layers, string? Device = null)
{
    public static GpuOffload None { get; } = new(0);

    public bool IsNone => Layers == 0;

    internal void Validate()
    {
        if (Layers < 0)
            throw new ArgumentOutOfRangeException(nameof(Layers), Layers, "--gpu-layers: expected >= 0 (0 keeps every layer on the CPU)");
    }
}
