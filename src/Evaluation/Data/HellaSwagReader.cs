using System.Globalization;
using System.Text.Json;

namespace LlamaAdapter.Evaluation.Data;

/// <summary>A HellaSwag item in the dataset's raw fields (before the harness's preprocess).</summary>
public sealed record HellaSwagItem(string Id, string ActivityLabel, string CtxA, string CtxB, IReadOnlyList<string> Endings, int Label);

/// <summary>
/// HellaSwag JSON Lines as Rowan Zellers' repository (hellaswag_{train,val}.jsonl: label an integer) and the HF
/// dataset (label a string such as "3") ship it. Fields: activity_label, ctx_a, ctx_b, endings[4], label; ind is the id.
/// </summary>
public static class HellaSwagReader
{
    public static Loaded<HellaSwagItem> Load(string path, bool skipBad = false, CancellationToken ct = default)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: HellaSwag file not found", path);
        var list = new RecordList<HellaSwagItem>(skipBad);
        foreach (var (line, parse) in JsonLines.Read(path))
        {
            ct.ThrowIfCancellationRequested();
            list.Add(() => FromJson(parse(), path, line));
        }
        return list.Done(path, "HellaSwag");
    }

    private static HellaSwagItem FromJson(JsonElement o, string path, long line)
    {
        string activity = JsonLines.String(o, "activity_label", path, line);
        string a = JsonLines.String(o, "ctx_a", path, line);
        string b = JsonLines.String(o, "ctx_b", path, line);
        var endings = JsonLines.Strings(JsonLines.Property(o, "endings", path, line), "endings", path, line);
        if (endings.Length < 2) throw EvalRecordException.AtLine(path, line, "endings", $"has {endings.Length} entries, expected at least 2 (HellaSwag has 4)");
        var l = JsonLines.Property(o, "label", path, line);
        int label = l.ValueKind switch
        {
            JsonValueKind.Number when l.TryGetInt32(out int n) => n,
            JsonValueKind.String when int.TryParse(l.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out int n) => n,
            _ => throw EvalRecordException.AtLine(path, line, "label", $"is {l.GetRawText()}, expected an integer 0..{endings.Length - 1} (the test split has no labels)"),
        };
        if (label < 0 || label >= endings.Length)
            throw EvalRecordException.AtLine(path, line, "label", $"is {label}, expected 0..{endings.Length - 1}");
        string id = o.TryGetProperty("ind", out var ind) ? ind.ToString() : line.ToString(CultureInfo.InvariantCulture);
        return new HellaSwagItem(id, activity, a, b, endings, label);
    }
}
