using System.Text.Json.Serialization;

namespace LlamaAdapter.Training.Metrics;

/// <summary>One line of a run's metrics.jsonl: an optimizer step, or a validation pass (then ValLoss is set).</summary>
public sealed record StepMetrics
{
    [JsonPropertyName("step")] public long Step { get; init; }
    [JsonPropertyName("epoch")] public double Epoch { get; init; }
    [JsonPropertyName("loss")] public double? Loss { get; init; }
    [JsonPropertyName("val_loss")] public double? ValLoss { get; init; }
    [JsonPropertyName("lr")] public double? Lr { get; init; }
    [JsonPropertyName("grad_norm")] public double? GradNorm { get; init; }
    [JsonPropertyName("tokens_per_s")] public double? TokensPerSecond { get; init; }
    /// <summary>Per adapter layer (absolute index as the key), the gate values as trained (before tanh).</summary>
    [JsonPropertyName("gates")] public Dictionary<string, float[]>? Gates { get; init; }
}
