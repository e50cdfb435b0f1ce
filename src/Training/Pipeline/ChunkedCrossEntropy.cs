using LlamaAdapter.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Pipeline;

/// <summary>
/// <see cref="CausalLmLoss"/> from the final hidden states instead of the logits, a few thousand positions at a time,
/// so the full [B·T, vocab] float32 logits (8×512×32000×4 B = 524 MB for LLaMA-7B, plus as much again for their
/// softmax kept for backward) never exist at once.
///
/// How: the output head is frozen, so the only gradient the loss sends back is dLoss/dhidden. Each chunk computes
/// its logits, its float32 cross-entropy sum and — at once, while its logits are alive — its gradient with respect to
/// its hidden rows (torch.autograd.grad), then frees them. The returned loss is
/// <c>value + (Σ hidden·g − Σ hidden·g)</c> with g detached: its value is exactly the summed chunk losses (x − x is
/// exactly 0), and backward hands g (scaled by whatever multiplies the loss) to the hidden states, as the full
/// cross-entropy would. Requires a head with no trainable parameter: their gradients would be lost.
/// </summary>
public static class ChunkedCrossEntropy
{
    /// <summary>Positions per chunk: 4096 × 32000 float32 logits = 524 MB at most alive at once.</summary>
    public const long DefaultChunkTokens = 4096;

    /// <param name="hidden">[B, T, dim], final-normed; the graph that made it is what backward reaches.</param>
    /// <param name="labels">[B, T] int64; label 0 is ignored (<see cref="CausalLmLoss.IgnoreIndex"/>).</param>
    /// <param name="head">hidden rows [n, dim] → logits [n, V]; its parameters must all be frozen.</param>
    public static Tensor Compute(Tensor hidden, Tensor labels, Func<Tensor, Tensor> head, long chunkTokens = DefaultChunkTokens)
    {
        if (hidden.dim() != 3 || labels.dim() != 2 || hidden.shape[0] != labels.shape[0] || hidden.shape[1] != labels.shape[1])
            throw new ArgumentException($"loss: hidden [{string.Join(", ", hidden.shape)}] and labels [{string.Join(", ", labels.shape)}] do not match as [B, T, dim] and [B, T]");
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkTokens, 1);
        long b = hidden.shape[0], t = hidden.shape[1], dim = hidden.shape[2];
        bool wantGrad = is_grad_enabled() && hidden.requires_grad;

        using var scope = NewDisposeScope();
        var h = hidden.narrow(1, 0, t - 1).reshape(-1, dim);                       // [N, dim], N = B·(T−1)
        var target = labels.narrow(1, 1, t - 1).reshape(-1);                       // [N]
        long n = h.shape[0];
        // Every chunk divides by the whole micro-batch's count, as the mean cross-entropy does; 0 counted gives NaN.
        var count = target.ne(CausalLmLoss.IgnoreScalar).sum().to_type(ScalarType.Float32);

        var hDetached = h.detach();
        var grads = wantGrad ? new List<Tensor>() : null;
        var sum = zeros(1, ScalarType.Float32, hidden.device).squeeze();
        for (long start = 0; start < n; start += chunkTokens)
        {
            long len = Math.Min(chunkTokens, n - start);
            using var chunkScope = NewDisposeScope();
            var hc = hDetached.narrow(0, start, len);
            var tc = target.narrow(0, start, len);
            if (!wantGrad)
            {
                using var _ = no_grad();
                sum.add_(ChunkLoss(head(hc), tc));
                continue;
            }
            using (enable_grad())
            {
                var leaf = hc.detach().requires_grad_(true);
                var loss = ChunkLoss(head(leaf), tc) / count;                       // this chunk's share of the mean
                var g = autograd.grad([loss], [leaf])[0];                          // [len, dim] in the model dtype
                sum.PlusInPlace(loss.detach());
                grads!.Add(g.MoveToOuterDisposeScope());
            }
        }
        if (!wantGrad) return (sum / count).MoveToOuterDisposeScope();

        var gAll = cat(grads!, 0);                                                  // [N, dim]
        var surrogate = (h * gAll).sum(type: ScalarType.Float32);
        return sum.Plus(surrogate.Minus(surrogate.detach())).MoveToOuterDisposeScope();
    }

    /// <summary>Summed float32 cross-entropy of one chunk: logits [n, V] in any dtype, targets [n].</summary>
    private static Tensor ChunkLoss(Tensor logits, Tensor targets) =>
        nn.functional.cross_entropy(logits.to_type(ScalarType.Float32), targets, ignore_index: CausalLmLoss.IgnoreIndex, reduction: nn.Reduction.Sum);
}
