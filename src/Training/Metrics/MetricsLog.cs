using System.Text.Json;
using LlamaAdapter.Core.Formats;

namespace LlamaAdapter.Training.Metrics;

/// <summary>
/// A run's metrics.jsonl: appended one flushed line per step, so a crash loses at most the line being written
/// and a resumed run continues the same file (lines past the resume step are dropped first).
/// </summary>
public sealed class MetricsLog : IDisposable
{
    private static readonly JsonSerializerOptions Options = new() { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };
    private readonly StreamWriter _writer;

    public string Path { get; }

    private MetricsLog(string path, StreamWriter writer)
    {
        Path = path;
        _writer = writer;
    }

    /// <summary>Opens for appending; with <paramref name="keepUpToStep"/>, first drops entries after that step (a resume).</summary>
    public static MetricsLog Open(string path, long? keepUpToStep = null)
    {
        if (keepUpToStep is { } last && File.Exists(path))
        {
            var kept = Read(path, stopAtBadLine: true).Where(m => m.Step <= last).Select(m => JsonSerializer.Serialize(m, Options)).ToList();
            AtomicFile.WriteAllText(path, string.Concat(kept.Select(line => line + Environment.NewLine)));
        }
        var w = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
        return new MetricsLog(path, w);
    }

    public void Write(StepMetrics m) => _writer.WriteLine(JsonSerializer.Serialize(m, Options));

    /// <param name="stopAtBadLine">Stop at the first unreadable line instead of failing: a run killed mid-write leaves one.</param>
    public static IReadOnlyList<StepMetrics> Read(string path, bool stopAtBadLine = false)
    {
        var list = new List<StepMetrics>();
        int line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            try { list.Add(JsonSerializer.Deserialize<StepMetrics>(text, Options) ?? throw new JsonException("null")); }
            catch (JsonException) when (stopAtBadLine) { break; }
            catch (JsonException e) { throw new InvalidDataException($"{path}: line {line} is not a metrics record: {e.Message}"); }
        }
        return list;
    }

    public void Dispose() => _writer.Dispose();
}
