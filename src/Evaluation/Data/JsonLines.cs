using System.Text.Json;

namespace LlamaAdapter.Evaluation.Data;

/// <summary>JSON Lines with the line number of each record; blank lines are skipped; a line that is not JSON is a record error.</summary>
internal static class JsonLines
{
    public static IEnumerable<(long Line, Func<JsonElement> Parse)> Read(string path)
    {
        long line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            long at = line;
            yield return (at, () =>
            {
                try
                {
                    using var doc = JsonDocument.Parse(text);
                    return doc.RootElement.Clone();
                }
                catch (JsonException e) { throw EvalRecordException.AtLine(path, at, "(record)", $"is not valid JSON: {e.Message}"); }
            });
        }
    }

    public static string String(JsonElement o, string name, string path, long line)
    {
        if (o.ValueKind != JsonValueKind.Object) throw EvalRecordException.AtLine(path, line, "(record)", $"is a {o.ValueKind}, expected an object");
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) throw EvalRecordException.AtLine(path, line, name, "is missing, expected a string");
        return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw EvalRecordException.AtLine(path, line, name, $"is a {v.ValueKind}, expected a string");
    }

    public static string[] Strings(JsonElement v, string name, string path, long line)
    {
        if (v.ValueKind != JsonValueKind.Array) throw EvalRecordException.AtLine(path, line, name, $"is a {v.ValueKind}, expected an array of strings");
        var list = new List<string>();
        int i = 0;
        foreach (var e in v.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.String) throw EvalRecordException.AtLine(path, line, $"{name}[{i}]", $"is a {e.ValueKind}, expected a string");
            list.Add(e.GetString()!);
            i++;
        }
        return list.ToArray();
    }

    public static JsonElement Property(JsonElement o, string name, string path, long line) =>
        o.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : throw EvalRecordException.AtLine(path, line, name, "is missing");
}
