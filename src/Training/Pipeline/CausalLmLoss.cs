using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Pipeline;

/// <summary>
/// The reference loss (alpaca_finetuning_v1/llama/model.py:391-399): cross-entropy of logits[:, :-1] against
/// labels[:, 1:], ignoring label 0 (prompt and padding), averaged over the tokens that count in this micro-batch.
/// A micro-batch with no counted token has no defined loss (NaN, as in PyTorch); the trainer stops on it.
/// </summary>
public static class CausalLmLoss
{
    public const long IgnoreIndex = 0;
    /// <summary>IgnoreIndex as a Scalar that lives as long as the process (see TensorOps: an implicit one can be freed mid-call).</summary>
    internal static readonly Scalar IgnoreScalar = IgnoreIndex.ToScalar();

    /// <param name="logits">[B, T, V]</param>
    /// <param name="labels">[B, T] int64</param>
    public static Tensor Compute(Tensor logits, Tensor labels)
    {
        if (logits.dim() != 3 || labels.dim() != 2 || logits.shape[0] != labels.shape[0] || logits.shape[1] != labels.shape[1])
            throw new ArgumentException($"loss: logits [{string.Join(", ", logits.shape)}] and labels [{string.Join(", ", labels.shape)}] do not match as [B, T, V] and [B, T]");
        long t = logits.shape[1], v = logits.shape[2];
        using var pred = logits.narrow(1, 0, t - 1).reshape(-1, v);          // [B·(T−1), V]
        using var target = labels.narrow(1, 1, t - 1).reshape(-1);           // [B·(T−1)]
        using var pred32 = pred.to_type(ScalarType.Float32);
        return nn.functional.cross_entropy(pred32, target, ignore_index: IgnoreIndex);
    }

    /// <summary>Positions whose label counts, after the shift.</summary>
    public static long CountedTokens(Tensor labels)
    {
        using var shifted = labels.narrow(1, 1, labels.shape[1] - 1);
        using var counted = shifted.ne(IgnoreScalar);
        return counted.sum().item<long>();
    }
}
