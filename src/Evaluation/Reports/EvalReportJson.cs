using System.Text.Json;
using System.Text.Json.Serialization;
using LlamaAdapter.Core.Formats;

namespace LlamaAdapter.Evaluation.Reports;

/// <summary>The report as indented JSON (camelCase), written atomically: a temp file beside the target, then renamed over it.</summary>
public static class EvalReportJson
{
    private static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static string Serialize(EvalReport report) => JsonSerializer.Serialize(report, Options);

    public static EvalReport? Deserialize(string json) => JsonSerializer.Deserialize<EvalReport>(json, Options);

    public static void Write(string path, EvalReport report) =>
        AtomicFile.Write(path, f => JsonSerializer.Serialize(f, report, Options));
}
