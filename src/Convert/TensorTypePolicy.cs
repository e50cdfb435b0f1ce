using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tensors;

namespace LlamaAdapter.Convert;

/// <summary>
/// The ggml type of each tensor, as llama.cpp chooses it.
/// <list type="bullet">
/// <item>1-D tensors (norms, rope_freqs) stay F32 (convert_hf_to_gguf and llama-quantize both keep them so).</item>
/// <item>F32, F16, BF16, Q8_0 (convert_hf_to_gguf's --outtype): every 2-D weight in that type.</item>
/// <item>Q4_0, Q4_K, Q5_K, Q6_K (llama-quantize, llama_tensor_get_type, the "_M" mixes for K): output.weight (or
/// token_embd.weight when the embeddings are tied) becomes Q6_K; for Q4_K/Q5_K, attn_v and ffn_down of the layers
/// use_more_bits picks (first and last eighth, every third between) become Q6_K; for Q4_K, attn_v of a 70B-shaped
/// model (80 layers, 8 query heads per KV head) becomes Q5_K. Other special cases of llama.cpp (IQ/Q2/Q3 mixes,
/// MoE, Falcon) concern types not offered here.</item>
/// <item>A row length (ne0) that is not a whole number of blocks falls back as llama-quantize does: Q4_K → Q5_0,
/// Q5_K → Q5_1, Q6_K → Q8_0, and to F16 when that does not fit either.</item>
/// </list>
/// </summary>
public static class TensorTypePolicy
{
    public static GgmlType Choose(OutputType target, LlamaTensorId id, IReadOnlyList<long> shapeNe, LlamaConfig config, bool hasOutput)
    {
        if (shapeNe.Count < 2) return GgmlType.F32;
        GgmlType t = target.WeightType;
        if (target.IsQuantizerMix)
        {
            bool isOutput = id.Kind == LlamaTensor.Output || (!hasOutput && id.Kind == LlamaTensor.TokenEmbedding);
            bool mix = target.FileType is LlamaFileType.MostlyQ4_K_M or LlamaFileType.MostlyQ5_K_M;
            if (isOutput) t = GgmlType.Q6_K;
            else if (id.Kind == LlamaTensor.AttnV)
            {
                if (mix && UseMoreBits(id.Layer, config.NLayers)) t = GgmlType.Q6_K;
                if (t == GgmlType.Q4_K && config.NLayers == 80 && config.NHeads == 8 * config.NKvHeads) t = GgmlType.Q5_K;
            }
            else if (id.Kind == LlamaTensor.FfnDown && mix && UseMoreBits(id.Layer, config.NLayers)) t = GgmlType.Q6_K;
        }
        return Fallback(t, shapeNe[0]);
    }

    /// <summary>llama.cpp's use_more_bits: the first and last eighth of the layers and every third one between.</summary>
    public static bool UseMoreBits(int layer, int nLayers) =>
        layer < nLayers / 8 || layer >= 7 * nLayers / 8 || (layer - nLayers / 8) % 3 == 2;

    /// <summary>A type whose blocks divide the row length <paramref name="ne0"/>.</summary>
    public static GgmlType Fallback(GgmlType t, long ne0)
    {
        if (Fits(t, ne0)) return t;
        GgmlType next = t switch
        {
            GgmlType.Q4_K => GgmlType.Q5_0,
            GgmlType.Q5_K => GgmlType.Q5_1,
            GgmlType.Q6_K => GgmlType.Q8_0,
            _ => GgmlType.F16,
        };
        return Fits(next, ne0) ? next : GgmlType.F16;
    }

    private static bool Fits(GgmlType t, long ne0) => ne0 % GgmlTypeTraits.Layout(t).BlockSize == 0;
}
