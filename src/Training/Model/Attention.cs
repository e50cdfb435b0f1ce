using LlamaAdapter.Core.Config;
using LlamaAdapter.Training.Adapters;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Model;

/// <summary>
/// Causal self-attention with grouped-query heads and, on adapter layers, the prompt term (NL training model
/// Attention.forward :95-157). Parameter names are Meta's: <c>wq</c> [dim, dim], <c>wk</c>/<c>wv</c> [kv_dim, dim],
/// <c>wo</c> [dim, dim].
/// </summary>
public sealed class Attention : nn.Module
{
    private readonly FrozenLinear wq, wk, wv, wo;
    private readonly int nHeads, nKvHeads, headDim;

    public Attention(LlamaConfig c, WeightSource w, string prefix) : base(nameof(Attention))
    {
        (nHeads, nKvHeads, headDim) = (c.NHeads, c.NKvHeads, c.HeadDim);
        wq = new FrozenLinear(w.Take(prefix + "wq.weight", c.Dim, c.Dim));
        wk = new FrozenLinear(w.Take(prefix + "wk.weight", c.KvDim, c.Dim));
        wv = new FrozenLinear(w.Take(prefix + "wv.weight", c.KvDim, c.Dim));
        wo = new FrozenLinear(w.Take(prefix + "wo.weight", c.Dim, c.Dim));
        RegisterComponents();
    }

    /// <summary>x [B, T, dim] (already attention_norm'ed) → [B, T, dim].</summary>
    public Tensor forward(Tensor x, Rotary rotary, Tensor cos, Tensor sin, LayerPrompt? prompt)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        int nRep = nHeads / nKvHeads;

        var q = rotary.Apply(wq.forward(x).view(b, t, nHeads, headDim), cos, sin).transpose(1, 2);   // [B, H, T, d]
        var k = rotary.Apply(wk.forward(x).view(b, t, nKvHeads, headDim), cos, sin).transpose(1, 2); // [B, Hkv, T, d]
        var v = wv.forward(x).view(b, t, nKvHeads, headDim).transpose(1, 2);
        if (nRep > 1) (k, v) = (k.repeat_interleave(nRep, dim: 1), v.repeat_interleave(nRep, dim: 1)); // [B, H, T, d]

        Tensor o;
        if (prompt is not { } p)
            o = nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true);
        else
        {
            var (pk, pv) = GatedPromptAttention.PromptKeysValues(p.Prompt, wk.Weight, wv.Weight, nKvHeads, nRep);
            o = p.Gate is null
                ? GatedPromptAttention.JointAttention(q, k, v, pk, pv)
                // Two softmaxes, the causal one untouched, the prompt one gated, summed before wo (NL :138-150).
                : nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true)
                      .Plus(GatedPromptAttention.GatedTerm(q, pk, pv, p.Gate));
        }
        var merged = o.transpose(1, 2).reshape(b, t, nHeads * headDim);                             // [B, T, dim]
        return wo.forward(merged).MoveToOuterDisposeScope();
    }
}
