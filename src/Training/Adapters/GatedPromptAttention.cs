using LlamaAdapter.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Adapters;

/// <summary>
/// The attention math of the prompts (seed-code §2). Shapes: q [B, H, T, d], prompt keys/values [1, H, L, d].
/// </summary>
public static class GatedPromptAttention
{
    /// <summary>
    /// k^P = W_k P, v^P = W_v P with the layer's own frozen projections; P is used raw — no RMSNorm, no rotary
    /// (NL :126-129). Grouped-query heads are repeated as the token path repeats them (kv head h / n_rep), PEFT's
    /// repeat_interleave(factor, dim=1). → ([1, H, L, d], [1, H, L, d]).
    /// </summary>
    public static (Tensor Keys, Tensor Values) PromptKeysValues(Tensor prompt, Tensor wk, Tensor wv, int nKvHeads, int nRep)
    {
        long len = prompt.shape[0];
        long headDim = wk.shape[0] / nKvHeads;
        var k = nn.functional.linear(prompt, wk).view(1, len, nKvHeads, headDim).transpose(1, 2); // [1, Hkv, L, d]
        var v = nn.functional.linear(prompt, wv).view(1, len, nKvHeads, headDim).transpose(1, 2);
        if (nRep > 1) (k, v) = (k.repeat_interleave(nRep, dim: 1), v.repeat_interleave(nRep, dim: 1));
        return (k, v);
    }

    /// <summary>
    /// gate · softmax(q·k^Pᵀ/√d) · v^P, the prompt term of zero-init attention (NL :138-150): the prompts get a softmax
    /// of their own (in float32, cast back, as <c>F.softmax(...float()).type_as(xq)</c>), visible to every position,
    /// and the gate [G] (G = H per head, or 1 per layer) scales it. → [B, H, T, d].
    /// </summary>
    public static Tensor GatedTerm(Tensor q, Tensor promptKeys, Tensor promptValues, Tensor gate)
    {
        using var scale = (1 / Math.Sqrt(q.shape[3])).ToScalar();                   // alive through the native call (see TensorOps)
        var scores = matmul(q, promptKeys.transpose(2, 3)).mul(scale);                  // [B, H, T, L]
        var probs = scores.softmax(-1, Precision.AtLeastFloat32(q.dtype)).to(q.dtype);
        var gated = gate.view(1, -1, 1, 1) * probs;
        return matmul(gated, promptValues);                                           // [B, H, T, d]
    }

    /// <summary>
    /// Conventional (prefix) attention, NL :151-153 with random_init: one softmax over [prompt keys ; causal token
    /// keys], prompts visible to every query, no gate. → [B, H, T, d].
    /// </summary>
    public static Tensor JointAttention(Tensor q, Tensor k, Tensor v, Tensor promptKeys, Tensor promptValues)
    {
        long b = q.shape[0], t = q.shape[2], len = promptKeys.shape[2];
        var keys = cat([promptKeys.expand(b, -1, -1, -1), k], 2);                     // [B, H, L+T, d]
        var values = cat([promptValues.expand(b, -1, -1, -1), v], 2);
        // True = may attend: all prompt columns, then the causal lower triangle over the tokens.
        var mask = cat([ones(t, len, dtype: ScalarType.Bool, device: q.device),
                        ones(t, t, dtype: ScalarType.Bool, device: q.device).tril()], 1); // [T, L+T]
        return nn.functional.scaled_dot_product_attention(q, keys, values, attn_mask: mask);
    }
}
