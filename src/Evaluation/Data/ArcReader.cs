using System.Text.Json;
using System.Text.Json.Serialization;

namespace LlamaAdapter.Evaluation.Data;

/// <summary>An AI2 ARC question: its text, the choice texts and labels in dataset order, and the answer key (a label).</summary>
public sealed record ArcItem(string Id, string Question, IReadOnlyList<string> Texts, IReadOnlyList<string> Labels, string AnswerKey)
{
    /// <summary>The harness's <c>choices.label.index(answerKey)</c>.</summary>
    public int Gold => Labels.ToList().IndexOf(AnswerKey);
}

/// <summary>
/// Reads ARC as Hugging Face ships allenai/ai2_arc (Parquet or JSON Lines rows: id, question, choices{text[], label[]},
/// answerKey) or as AI2's original jsonl (question{stem, choices[{text, label}]}, answerKey).
/// </summary>
public static class ArcReader
{
    public static async Task<Loaded<ArcItem>> LoadAsync(string path, bool skipBad = false, CancellationToken ct = default)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: ARC file not found", path);
        var list = new RecordList<ArcItem>(skipBad);
        if (path.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase))
        {
            var rows = await ParquetRows.ReadAsync<ArcParquetRow>(path, ct);
            for (int r = 0; r < rows.Count; r++)
            {
                var row = rows[r];
                long at = r;
                list.Add(() => Check(path, $"row {at}", row.Id ?? "",
                    row.Question ?? throw EvalRecordException.AtRow(path, at, "question", "is null, expected a string"),
                    row.Choices?.Text ?? throw EvalRecordException.AtRow(path, at, "choices.text", "is null, expected a list of strings"),
                    row.Choices?.Label ?? throw EvalRecordException.AtRow(path, at, "choices.label", "is null, expected a list of strings"),
                    row.AnswerKey ?? throw EvalRecordException.AtRow(path, at, "answerKey", "is null, expected a label")));
            }
        }
        else
        {
            foreach (var (line, parse) in JsonLines.Read(path))
            {
                ct.ThrowIfCancellationRequested();
                list.Add(() => FromJson(parse(), path, line));
            }
        }
        return list.Done(path, "ARC");
    }

    private static ArcItem FromJson(JsonElement o, string path, long line)
    {
        string id = o.ValueKind == JsonValueKind.Object && o.TryGetProperty("id", out var idEl) && idEl.ValueKind == JsonValueKind.String ? idEl.GetString()! : "";
        var q = JsonLines.Property(o, "question", path, line);
        string where = $"line {line}";
        if (q.ValueKind == JsonValueKind.Object)
        {
            // AI2's original layout: question.stem and question.choices[{text, label}].
            string stem = JsonLines.String(q, "stem", path, line);
            var choices = JsonLines.Property(q, "choices", path, line);
            if (choices.ValueKind != JsonValueKind.Array) throw EvalRecordException.AtLine(path, line, "question.choices", "is not an array, expected [{text, label}, ...]");
            var texts = new List<string>();
            var labels = new List<string>();
            foreach (var c in choices.EnumerateArray())
            {
                texts.Add(JsonLines.String(c, "text", path, line));
                labels.Add(JsonLines.String(c, "label", path, line));
            }
            return Check(path, where, id, stem, texts, labels, JsonLines.String(o, "answerKey", path, line));
        }
        string question = JsonLines.String(o, "question", path, line);
        var ch = JsonLines.Property(o, "choices", path, line);
        if (ch.ValueKind != JsonValueKind.Object) throw EvalRecordException.AtLine(path, line, "choices", $"is a {ch.ValueKind}, expected an object {{text: [...], label: [...]}}");
        return Check(path, where, id, question,
            JsonLines.Strings(JsonLines.Property(ch, "text", path, line), "choices.text", path, line),
            JsonLines.Strings(JsonLines.Property(ch, "label", path, line), "choices.label", path, line),
            JsonLines.String(o, "answerKey", path, line));
    }

    private static ArcItem Check(string path, string where, string id, string question, IReadOnlyList<string> texts, IReadOnlyList<string> labels, string answerKey)
    {
        if (texts.Count == 0) throw new EvalRecordException(path, where, "choices.text", "is empty, expected at least one choice");
        if (texts.Count != labels.Count)
            throw new EvalRecordException(path, where, "choices", $"has {texts.Count} texts but {labels.Count} labels, expected as many of each");
        var item = new ArcItem(id, question, texts.ToArray(), labels.ToArray(), answerKey);
        if (item.Gold < 0)
            throw new EvalRecordException(path, where, "answerKey", $"'{answerKey}' is not one of the labels [{string.Join(", ", labels)}]");
        return item;
    }

    internal sealed class ArcParquetRow
    {
        [JsonPropertyName("id")] public string? Id { get; set; }
        [JsonPropertyName("question")] public string? Question { get; set; }
        [JsonPropertyName("choices")] public ArcParquetChoices? Choices { get; set; }
        [JsonPropertyName("answerKey")] public string? AnswerKey { get; set; }
    }

    internal sealed class ArcParquetChoices
    {
        [JsonPropertyName("text")] public List<string>? Text { get; set; }
        [JsonPropertyName("label")] public List<string>? Label { get; set; }
    }
}
