using LlamaAdapter.Core.Config;

namespace LlamaAdapter.Training.Bench;

/// <summary>Named model shapes for <see cref="TrainStepBench"/>: LLaMA-1/2 7B and 13B, a ~130M one that a CPU can time, and a tiny one for tests.</summary>
public static class TrainStepShape
{
    public static IReadOnlyList<string> Names { get; } = ["tiny", "small", "7b", "13b"];

    public static LlamaConfig Preset(string name) => name.ToLowerInvariant() switch
    {
        "tiny" => new(Dim: 64, NLayers: 4, NHeads: 4, NKvHeads: 2, FfnDim: 172, VocabSize: 512, ContextLength: 4096),
        // GPT-2-small widths with LLaMA's vocabulary: 85M in the layers + 2 × 24.6M embeddings/head.
        "small" => new(Dim: 768, NLayers: 12, NHeads: 12, NKvHeads: 12, FfnDim: 2048, VocabSize: 32000, ContextLength: 4096),
        "7b" => new(Dim: 4096, NLayers: 32, NHeads: 32, NKvHeads: 32, FfnDim: 11008, VocabSize: 32000, ContextLength: 4096),
        "13b" => new(Dim: 5120, NLayers: 40, NHeads: 40, NKvHeads: 40, FfnDim: 13824, VocabSize: 32000, ContextLength: 4096),
        _ => throw new ArgumentException($"shape '{name}': expected one of {string.Join(", ", Names)}"),
    };
}
