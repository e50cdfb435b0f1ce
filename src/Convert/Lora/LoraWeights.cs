using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats;

namespace LlamaAdapter.Convert.Lora;

/// <summary>
/// One adapted weight W [out, in] of the base: A [r, in] and B [out, r], row-major, B's rows in Meta/GGUF order (the
/// order llama.cpp's wq/wk rows have), so W + scale·B·A is the GGUF tensor's merged value.
/// </summary>
public sealed record LoraPair(LlamaTensorId Target, int Rank, long In, long Out, float[] A, float[] B);

/// <summary>
/// A LoRA as llama.cpp applies it (llama_adapter_lora_weight::get_scale with adapter scale 1): every pair adds
/// (alpha / its rank)·B·A, or B·A alone when alpha is 0 (a file without adapter.lora.alpha).
/// </summary>
public sealed record LoraWeights(float Alpha, IReadOnlyList<LoraPair> Pairs)
{
    /// <summary>In float, as llama.cpp computes it.</summary>
    public static float ScaleOf(float alpha, int rank) => alpha != 0 ? alpha / rank : 1f;

    public float Scale(LoraPair p) => ScaleOf(Alpha, p.Rank);

    /// <summary>
    /// Refuses a pair whose target the base does not have (another layer count, token_embd, a vector) or whose
    /// shape does not fit the base's [out, in]; <paramref name="what"/> names the LoRA, <paramref name="baseName"/> the base.
    /// </summary>
    public void CheckAgainst(LlamaConfig c, string what, string baseName)
    {
        foreach (var p in Pairs)
        {
            string name = TensorNames.Format(p.Target, TensorNaming.Gguf);
            if (p.Target.IsPerLayer && p.Target.Layer >= c.NLayers)
                throw new BadInputException($"{what}: LoRA tensor '{name}' is for layer {p.Target.Layer}, but the base model {baseName} has {c.NLayers} layers: the LoRA was made for another model");
            long[] shape = p.Target.Kind switch
            {
                LlamaTensor.AttnQ or LlamaTensor.AttnOut => [c.Dim, c.Dim],
                LlamaTensor.AttnK or LlamaTensor.AttnV => [c.KvDim, c.Dim],
                LlamaTensor.FfnGate or LlamaTensor.FfnUp => [c.FfnDim, c.Dim],
                LlamaTensor.FfnDown => [c.Dim, c.FfnDim],
                LlamaTensor.Output => [c.VocabSize, c.Dim],
                _ => throw new BadInputException($"{what}: LoRA tensor '{name}' targets a tensor a LoRA cannot be merged into here; expected the attention or feed-forward projections or output.weight"),
            };
            if (p.Out != shape[0] || p.In != shape[1])
                throw new BadInputException($"{what}: LoRA for '{name}' is [out {p.Out}, in {p.In}], but the base model {baseName} has [{shape[0]}, {shape[1]}]: the LoRA was made for another model shape");
        }
    }
}
