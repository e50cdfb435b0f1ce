using LlamaAdapter.Core.Config;

namespace LlamaAdapter.Training.Bench;

/// <summary>
/// FLOPs of one training step per token, two ways. Matmul weights per layer
/// N_layer = 2·dim² (wq, wo) + 2·dim·kv_dim (wk, wv) + 3·dim·ffn; the head N_head = vocab·dim; the embedding lookup
/// costs nothing. Attention (QKᵀ and P·V, counted unmasked as PaLM does) is 4·dim·T per token per layer forward.
/// The prompt adapter's own work (L = 10 keys against T = 512) is left out of both: under 2 % of the attention term.
/// </summary>
public sealed record TrainStepFlops(double ModelPerToken, double ExecutedPerToken, long MatmulParams)
{
    /// <summary>
    /// <see cref="ModelPerToken"/>: PaLM's MFU convention (appendix B), 6·N + 12·n_layers·dim·T, N = all matmul
    /// weights — what a full fine-tune would do, so it compares with published MFU numbers.
    /// <see cref="ExecutedPerToken"/>: what this method has to compute with the base frozen: the forward over all
    /// layers (2·N + 4·n_layers·dim·T), and a backward for activations only (no weight gradients) through the head
    /// and the top K layers (2·(K·N_layer + N_head) + 8·K·dim·T).
    /// </summary>
    public static TrainStepFlops For(LlamaConfig c, int seqLen, int adapterLayers)
    {
        double nLayer = 2.0 * c.Dim * c.Dim + 2.0 * c.Dim * c.KvDim + 3.0 * c.Dim * c.FfnDim;
        double nHead = (double)c.VocabSize * c.Dim;
        double n = c.NLayers * nLayer + nHead;
        double attn = 4.0 * c.Dim * seqLen;                                   // per layer per token, forward
        double model = 6 * n + 3 * c.NLayers * attn;
        double executed = 2 * n + c.NLayers * attn + 2 * (adapterLayers * nLayer + nHead) + 2 * adapterLayers * attn;
        return new TrainStepFlops(model, executed, (long)n);
    }
}
