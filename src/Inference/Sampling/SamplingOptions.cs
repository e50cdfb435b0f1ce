namespace LlamaAdapter.Inference.Sampling;

/// <summary>
/// How the next token is picked; defaults are llama.cpp's (common_params_sampling). Temperature ≤ 0 is greedy.
/// Disabled values: TopK ≤ 0, TopP ≥ 1, MinP ≤ 0, RepeatPenalty = 1.
/// </summary>
public sealed record SamplingOptions(
    float Temperature = 0.8f,
    int TopK = 40,
    float TopP = 0.95f,
    float MinP = 0.05f,
    float RepeatPenalty = 1.0f,
    int RepeatLastN = 64,
    ulong Seed = 0)
{
    public static SamplingOptions Greedy { get; } = new(Temperature: 0);

    public SamplingOptions Validate()
    {
        static void Require(bool ok, string field, string expected, object value)
        {
            if (!ok) throw new ArgumentException($"sampling {field} = {value}: expected {expected}");
        }
        Require(float.IsFinite(Temperature), nameof(Temperature), "a finite number (≤ 0 for greedy)", Temperature);
        Require(TopP is >= 0 and <= 1 && !float.IsNaN(TopP), nameof(TopP), "0..1", TopP);
        Require(MinP is >= 0 and <= 1 && !float.IsNaN(MinP), nameof(MinP), "0..1", MinP);
        Require(RepeatPenalty > 0 && float.IsFinite(RepeatPenalty), nameof(RepeatPenalty), "> 0 (1 = off)", RepeatPenalty);
        Require(RepeatLastN >= 0, nameof(RepeatLastN), ">= 0", RepeatLastN);
        return this;
    }
}
