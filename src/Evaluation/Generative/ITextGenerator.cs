namespace LlamaAdapter.Evaluation.Generative;

/// <summary>Settings of the reference's generate call (example.py: T 0.1, top-p 0.75, 512 new tokens).</summary>
public sealed record GenerationSettings(double Temperature = 0.1, double TopP = 0.75, int MaxNewTokens = 512, int Seed = 1);

/// <summary>Prompt ids (with BOS) → the new token ids, stopped after EOS (not included) or the token budget.</summary>
public interface ITextGenerator
{
    IReadOnlyList<int> Generate(IReadOnlyList<int> promptIds, GenerationSettings settings, CancellationToken ct = default);
}
