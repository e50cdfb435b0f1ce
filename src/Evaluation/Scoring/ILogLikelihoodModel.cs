namespace LlamaAdapter.Evaluation.Scoring;

/// <summary>Context and continuation token ids; the context starts with BOS, the continuation is what gets scored.</summary>
public sealed record LogLikelihoodRequest(int[] Context, int[] Continuation);

/// <summary>Σ log p(continuation token | everything before it), and whether greedy decoding would produce the continuation.</summary>
public readonly record struct LogLikelihood(double LogProb, bool IsGreedy);

/// <summary>
/// The harness's <c>loglikelihood</c> request type over token ids. Implemented by the TorchSharp model here and by
/// the ggml engine; results come back in request order.
/// </summary>
public interface ILogLikelihoodModel
{
    /// <summary>The longest input the model takes (the harness's max_length); longer requests keep their last tokens.</summary>
    int MaxLength { get; }

    IReadOnlyList<LogLikelihood> Score(IReadOnlyList<LogLikelihoodRequest> requests, CancellationToken ct = default);
}
