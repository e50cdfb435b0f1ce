using LlamaAdapter.Evaluation.Metrics;

namespace LlamaAdapter.Evaluation.Reports;

/// <summary>One document's outcome: the prompt, each choice's log-likelihood and greedy flag, and the predictions.</summary>
public sealed record DocResult(
    string Id,
    string Context,
    IReadOnlyList<string> Choices,
    int Gold,
    IReadOnlyList<double> LogLikelihoods,
    IReadOnlyList<bool> IsGreedy,
    int Prediction,
    int PredictionNorm,
    int PredictionBytes,
    IReadOnlyList<int>? Labels,
    double? Mc2);

/// <summary>A row of the results table: a task, a group of subtasks (MMLU category) or a subtask (MMLU subject).</summary>
public sealed record ResultRow(string Name, int Level, int Shots, IReadOnlyDictionary<string, MetricValue> Metrics);

/// <summary>A subtask's documents (the harness's samples) under its name.</summary>
public sealed record SubtaskSamples(string Name, IReadOnlyList<DocResult> Docs);

/// <summary>How a run was set up, written beside its results so a JSON file says what produced it.</summary>
public sealed record EvalSettings(IReadOnlyList<string> Tasks, int? Shots, int? Limit, ulong Seed, string Model, string? DataDir = null);

/// <summary>Settings, the results table, per-document samples, and per task how many malformed records --skip-bad dropped.</summary>
public sealed record EvalReport(EvalSettings Settings, IReadOnlyList<ResultRow> Results, IReadOnlyList<SubtaskSamples> Samples, IReadOnlyDictionary<string, int>? SkippedRecords = null);
