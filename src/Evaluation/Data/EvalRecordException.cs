using LlamaAdapter.Core;

namespace LlamaAdapter.Evaluation.Data;

/// <summary>A benchmark record that cannot be read: names the file, the line (or Parquet row), the field and what was expected.</summary>
public sealed class EvalRecordException(string path, string where, string field, string problem)
    : BadInputException($"{path}: {where}: {field} {problem}")
{
    public static EvalRecordException AtLine(string path, long line, string field, string problem) => new(path, $"line {line}", field, problem);
    public static EvalRecordException AtRow(string path, long row, string field, string problem) => new(path, $"row {row}", field, problem);
}

/// <summary>What a loader read: the items and how many bad records <c>--skip-bad</c> dropped.</summary>
public sealed record Loaded<T>(string Path, IReadOnlyList<T> Items, int Skipped);
