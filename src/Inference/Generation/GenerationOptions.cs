using LlamaAdapter.Inference.Sampling;

namespace LlamaAdapter.Inference.Generation;

/// <summary>What to generate: at most <see cref="MaxTokens"/> tokens, ending early at EOS or at any stop string (not included).</summary>
public sealed record GenerationOptions(
    int MaxTokens = 256,
    IReadOnlyList<string>? StopStrings = null,
    bool AddBos = true,
    bool StopAtEos = true)
{
    public SamplingOptions Sampling { get; init; } = new();
}

public enum StopReason { MaxTokens, EndOfSequence, StopString, ContextFull }

public sealed record GenerationResult(string Text, IReadOnlyList<int> PromptTokens, IReadOnlyList<int> Tokens, StopReason Reason);
