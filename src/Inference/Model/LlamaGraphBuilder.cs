using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Adapters;
using static LlamaAdapter.Core.Native.GgmlApi;

namespace LlamaAdapter.Inference.Model;

/// <summary>
/// The LLaMA forward graph for n tokens at positions [p0, p0+n) (ggml ne order throughout, fastest first):
/// embeddings → per block x += wo·attn(rope(wq·h), rope(wk·h), wv·h) with h = rms(x)·w, x += w2·(silu(w1·h)⊙w3·h) →
/// rms(x)·w → output. New keys/values are written into the cache, attention reads the cache's first p0+n slots.
/// With a LoRA, every adapted weight's product gains its low-rank branch (<see cref="Mm"/>).
/// </summary>
internal sealed class LlamaGraphBuilder(IntPtr ctx, IntPtr graph, GgmlLlamaModel model, KvCache cache, GgmlPromptAdapter? adapter,
                                        GgmlLoraAdapter? lora = null)
{
    private const int RopeModeNormal = 0; // adjacent pairs (2i, 2i+1): Meta/GGUF weights

    private readonly LlamaConfig _c = model.Config;

    public (IntPtr Tokens, IntPtr Positions, List<(IntPtr Mask, int Prefix)> Masks, IntPtr Logits) Build(int n, int p0, bool allLogits) =>
        Build(n, p0, p0 + n, allLogits, null);

    /// <summary>
    /// One token attending to cache slots [0, <paramref name="nKv"/>) whatever its position: the slot it writes
    /// (KeySlot: its position; ValueSlots: position + d·size for each of the kvDim rows of the transposed V cache)
    /// and the mask hiding the slots after it are inputs, so the graph is built once and reused while the position
    /// stays below nKv (as llama.cpp pads the attended length to 256 and writes the cache with ggml_set_rows).
    /// </summary>
    public DecodeGraphInputs BuildDecode(int nKv)
    {
        IntPtr keySlot = Input(ggml_new_tensor_1d(ctx, GgmlType.I64, 1), "k_idxs");
        IntPtr valueSlots = Input(ggml_new_tensor_1d(ctx, GgmlType.I64, _c.KvDim), "v_idxs");
        var (tokens, positions, masks, logits) = Build(1, -1, nKv, allLogits: false, (keySlot, valueSlots));
        return new DecodeGraphInputs(tokens, positions, masks, logits, keySlot, valueSlots);
    }

    /// <param name="slots">null: the batch goes to slots [p0, p0+n), baked into the graph; else the inputs naming them (n = 1).</param>
    private (IntPtr, IntPtr, List<(IntPtr, int)>, IntPtr) Build(int n, int p0, int nKv, bool allLogits, (IntPtr Key, IntPtr Values)? slots)
    {
        int dim = _c.Dim, hd = _c.HeadDim, h = _c.NHeads, hkv = _c.NKvHeads;
        float eps = (float)_c.NormEps;

        IntPtr tokens = Input(ggml_new_tensor_1d(ctx, GgmlType.I32, n), "inp_tokens");
        IntPtr positions = Input(ggml_new_tensor_1d(ctx, GgmlType.I32, n), "inp_pos");
        var masks = new List<(IntPtr, int)>();
        bool PrefixAt(int l) => adapter is { Kind: PromptAdapterKind.Prefix } && adapter.Covers(l);
        // Only masks some layer reads: the graph allocator gives no buffer to a tensor outside the graph, and
        // setting one aborts ggml (a prefix adapter on every layer leaves the plain causal mask unread).
        IntPtr causalMask = IntPtr.Zero;
        if (Enumerable.Range(0, _c.NLayers).Any(l => !PrefixAt(l)))
        {
            causalMask = Input(ggml_new_tensor_2d(ctx, GgmlType.F32, nKv, n), "kq_mask");
            masks.Add((causalMask, 0));
        }
        IntPtr prefixMask = IntPtr.Zero;
        if (adapter is { Kind: PromptAdapterKind.Prefix })
        {
            prefixMask = Input(ggml_new_tensor_2d(ctx, GgmlType.F32, adapter.PromptLength + nKv, n), "kq_mask_prefix");
            masks.Add((prefixMask, adapter.PromptLength));
        }

        IntPtr x = ggml_get_rows(ctx, model.TokenEmbedding, tokens);                     // [dim, n]
        for (int l = 0; l < _c.NLayers; l++)
        {
            var w = model.Layers[l];
            IntPtr a = ggml_mul(ctx, ggml_rms_norm(ctx, x, eps), w.AttnNorm);
            IntPtr q = ggml_reshape_3d(ctx, Mm(w.Wq, a, l, LoraTarget.AttnQ), hd, h, n);      // [hd, H, n]
            IntPtr k = ggml_reshape_3d(ctx, Mm(w.Wk, a, l, LoraTarget.AttnK), hd, hkv, n);    // [hd, Hkv, n]
            IntPtr v = Mm(w.Wv, a, l, LoraTarget.AttnV);                                        // [kvDim, n]
            q = Rope(q, positions);
            k = Rope(k, positions);
            if (slots is { } s) StoreKv(l, k, v, s.Key, s.Values);
            else StoreKv(l, k, v, n, p0);
            IntPtr o = Attention(l, q, n, nKv, PrefixAt(l) ? prefixMask : causalMask);          // [hd, n, H]
            o = ggml_cont(ctx, ggml_permute(ctx, o, 0, 2, 1, 3));                         // [hd, H, n]
            x = ggml_add(ctx, x, Mm(w.Wo, ggml_reshape_2d(ctx, o, dim, n), l, LoraTarget.AttnOut));
            if (l == _c.NLayers - 1 && !allLogits && n > 1)
            {
                // Only the last token's logits are wanted: the last block's feed-forward runs for it alone (as
                // llama.cpp's inp_out_ids does), since nothing after attention mixes positions.
                x = ggml_view_2d(ctx, x, dim, 1, ggml_row_size(GgmlType.F32, dim), ggml_row_size(GgmlType.F32, (long)dim * (n - 1)));
                n = 1;
            }

            IntPtr f = ggml_mul(ctx, ggml_rms_norm(ctx, x, eps), w.FfnNorm);
            IntPtr gate = ggml_silu(ctx, Mm(w.FfnGate, f, l, LoraTarget.FfnGate));               // [ffn, n]
            IntPtr up = Mm(w.FfnUp, f, l, LoraTarget.FfnUp);
            x = ggml_add(ctx, x, Mm(w.FfnDown, ggml_mul(ctx, gate, up), l, LoraTarget.FfnDown)); // [dim, n]
        }
        x = ggml_mul(ctx, ggml_rms_norm(ctx, x, eps), model.OutputNorm);
        IntPtr logits = Mm(model.Output, x, -1, LoraTarget.Output);                      // [vocab, n or 1]
        ggml_set_name(logits, "logits");
        ggml_set_output(logits);
        ggml_build_forward_expand(graph, logits);
        return (tokens, positions, masks, logits);
    }

    /// <summary>W·x, plus llama.cpp's LoRA branch scale·B·(A·x) when the LoRA adapts W: A ne [in, r], B ne [r, out].</summary>
    private IntPtr Mm(IntPtr w, IntPtr x, int layer, LoraTarget target)
    {
        IntPtr y = ggml_mul_mat(ctx, w, x);                                              // [out, n]
        if (lora is null || !lora.TryGet(layer, target, out var p)) return y;
        IntPtr ab = ggml_mul_mat(ctx, p.B, ggml_mul_mat(ctx, p.A, x));                   // [r, n] → [out, n]
        return ggml_add(ctx, y, ggml_scale(ctx, ab, p.Scale));
    }

    private IntPtr Input(IntPtr t, string name)
    {
        ggml_set_name(t, name);
        ggml_set_input(t);
        return t;
    }

    private IntPtr Rope(IntPtr t, IntPtr positions)
    {
        float freqScale = _c.RopeScaling is { Type: RopeScalingType.Linear } s ? (float)(1.0 / s.Factor) : 1f;
        int ctxOrig = _c.RopeScaling?.OriginalContextLength ?? _c.ContextLength;
        // ext_factor 0: no YaRN ramp; attn_factor 1: no magnitude correction. beta_* only matter for YaRN.
        return ggml_rope_ext(ctx, t, positions, model.RopeFactors, _c.HeadDim, RopeModeNormal, ctxOrig,
            (float)_c.RopeTheta, freqScale, 0f, 1f, 32f, 1f);
    }

    /// <summary>Copies this batch's K [hd, Hkv, n] into slots [p0, p0+n) of the K cache and V [kvDim, n] into the transposed V cache.</summary>
    private void StoreKv(int layer, IntPtr k, IntPtr v, int n, int p0)
    {
        GgmlType t = cache.Type;
        int kvDim = _c.KvDim;
        IntPtr kSlots = ggml_view_1d(ctx, cache.Keys[layer], (long)n * kvDim, ggml_row_size(t, kvDim) * (nuint)p0);
        ggml_build_forward_expand(graph, ggml_cpy(ctx, k, kSlots));
        IntPtr vSlots = ggml_view_2d(ctx, cache.Values[layer], n, kvDim, ggml_row_size(t, cache.Size), ggml_row_size(t, p0));
        ggml_build_forward_expand(graph, ggml_cpy(ctx, ggml_transpose(ctx, v), vSlots));
    }

    /// <summary>Writes one token's K [hd, Hkv, 1] into the K cache row <paramref name="keySlot"/> and V [kvDim, 1] into the transposed V cache's elements <paramref name="valueSlots"/>.</summary>
    private void StoreKv(int layer, IntPtr k, IntPtr v, IntPtr keySlot, IntPtr valueSlots)
    {
        int kvDim = _c.KvDim;
        ggml_build_forward_expand(graph, ggml_set_rows(ctx, cache.Keys[layer], ggml_reshape_2d(ctx, k, kvDim, 1), keySlot));
        // V ne [size, kvDim] seen as size·kvDim rows of one element: element d of the token goes to d·size + position.
        IntPtr flat = ggml_reshape_2d(ctx, cache.Values[layer], 1, (long)cache.Size * kvDim);
        ggml_build_forward_expand(graph, ggml_set_rows(ctx, flat, ggml_reshape_2d(ctx, v, 1, kvDim), valueSlots));
    }

    /// <summary>
    /// softmax(q·Kᵀ/√d + mask)·V over cache slots [0, nKv), GQA by mul_mat's broadcast (query head i reads kv head
    /// i / (H/Hkv)), plus the adapter's prompt term on adapted layers. q [hd, H, n] → [hd, n, H].
    /// </summary>
    private IntPtr Attention(int layer, IntPtr q, int n, int nKv, IntPtr mask)
    {
        GgmlType t = cache.Type;
        int hd = _c.HeadDim, hkv = _c.NKvHeads;
        float scale = 1f / MathF.Sqrt(hd);
        IntPtr qh = ggml_permute(ctx, q, 0, 2, 1, 3);                                    // [hd, n, H]
        IntPtr keys = ggml_view_3d(ctx, cache.Keys[layer], hd, nKv, hkv,
            ggml_row_size(t, _c.KvDim), ggml_row_size(t, hd), 0);                        // [hd, nKv, Hkv]
        IntPtr valuesT = ggml_view_3d(ctx, cache.Values[layer], nKv, hd, hkv,
            ggml_row_size(t, cache.Size), ggml_row_size(t, (long)cache.Size * hd), 0);   // [nKv, hd, Hkv]
        IntPtr scores = ggml_mul_mat(ctx, keys, qh);                                     // [nKv, n, H]

        if (adapter is null || !adapter.Covers(layer))
            return ggml_mul_mat(ctx, valuesT, ggml_soft_max_ext(ctx, scores, mask, scale, 0f)); // [hd, n, H]

        int k = layer - adapter.FirstLayer, len = adapter.PromptLength;
        IntPtr promptKeys = ggml_view_3d(ctx, adapter.Keys[k], hd, len, hkv,
            ggml_row_size(GgmlType.F32, _c.KvDim), ggml_row_size(GgmlType.F32, hd), 0);   // [hd, L, Hkv]
        IntPtr promptValuesT = ggml_view_3d(ctx, adapter.ValuesT[k], len, hd, hkv,
            ggml_row_size(GgmlType.F32, len), ggml_row_size(GgmlType.F32, (long)len * hd), 0); // [L, hd, Hkv]
        IntPtr promptScores = ggml_mul_mat(ctx, promptKeys, qh);                         // [L, n, H]

        if (adapter.Kind == PromptAdapterKind.Prefix)
        {
            // One softmax over [prompt keys ; causal keys]; the mask leaves the L prompt columns open.
            IntPtr joint = ggml_soft_max_ext(ctx, ggml_concat(ctx, promptScores, scores, 0), mask, scale, 0f); // [L+nKv, n, H]
            nuint nb1 = ggml_row_size(GgmlType.F32, len + nKv), nb2 = nb1 * (nuint)n;
            IntPtr pPrompt = ggml_cont(ctx, ggml_view_3d(ctx, joint, len, n, _c.NHeads, nb1, nb2, 0));
            IntPtr pTokens = ggml_cont(ctx, ggml_view_3d(ctx, joint, nKv, n, _c.NHeads, nb1, nb2, ggml_row_size(GgmlType.F32, len)));
            return ggml_add(ctx, ggml_mul_mat(ctx, valuesT, pTokens), ggml_mul_mat(ctx, promptValuesT, pPrompt));
        }

        // Zero-init gated attention: the prompts get a softmax of their own, scaled by the gate per head.
        IntPtr causal = ggml_mul_mat(ctx, valuesT, ggml_soft_max_ext(ctx, scores, mask, scale, 0f));       // [hd, n, H]
        IntPtr prompt = ggml_mul_mat(ctx, promptValuesT, ggml_soft_max_ext(ctx, promptScores, IntPtr.Zero, scale, 0f));
        return ggml_add(ctx, causal, ggml_mul(ctx, prompt, adapter.Gates[k]));          // gate [1, 1, G] broadcasts over heads
    }
}

/// <summary>The inputs of a decode graph from <see cref="LlamaGraphBuilder.BuildDecode"/>.</summary>
internal sealed record DecodeGraphInputs(IntPtr Tokens, IntPtr Positions, List<(IntPtr Mask, int Prefix)> Masks, IntPtr Logits,
                                         IntPtr KeySlot, IntPtr ValueSlots);
