using System.Text.Json.Serialization;

namespace LlamaAdapter.Evaluation.Data;

/// <summary>An MMLU question: subject (e.g. high_school_biology), question, four choices, answer index 0..3.</summary>
public sealed record MmluItem(string Subject, string Question, IReadOnlyList<string> Choices, int Answer);

/// <summary>
/// MMLU as Hendrycks' data.tar ships it (data/{dev,val,test}/{subject}_{split}.csv: no header, columns question, A, B,
/// C, D, answer letter) and as HF cais/mmlu Parquet (question, subject, choices[4], answer 0..3).
/// </summary>
public static class MmluReader
{
    /// <summary>One upstream CSV; the subject is the file name less its <c>_{split}.csv</c> suffix.</summary>
    public static Loaded<MmluItem> LoadCsv(string path, bool skipBad = false)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: MMLU file not found", path);
        string name = Path.GetFileNameWithoutExtension(path);
        int cut = name.LastIndexOf('_');
        string subject = cut > 0 ? name[..cut] : name;
        var list = new RecordList<MmluItem>(skipBad);
        foreach (var rec in CsvRecords.Read(path))
        {
            list.Add(() =>
            {
                var f = rec.Fields;
                if (f.Count != 6) throw EvalRecordException.AtLine(path, rec.Line, "(record)", $"has {f.Count} fields, expected 6 (question, A, B, C, D, answer)");
                int answer = f[5].Trim() switch { "A" => 0, "B" => 1, "C" => 2, "D" => 3, var s => throw EvalRecordException.AtLine(path, rec.Line, "answer", $"is '{s}', expected A, B, C or D") };
                return new MmluItem(subject, f[0], [f[1], f[2], f[3], f[4]], answer);
            });
        }
        return list.Done(path, "MMLU");
    }

    public static async Task<Loaded<MmluItem>> LoadParquetAsync(string path, string? subject = null, bool skipBad = false, CancellationToken ct = default)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: MMLU file not found", path);
        var rows = await ParquetRows.ReadAsync<MmluParquetRow>(path, ct);
        var list = new RecordList<MmluItem>(skipBad);
        for (int r = 0; r < rows.Count; r++)
        {
            var row = rows[r];
            long at = r;
            list.Add(() =>
            {
                string q = row.Question ?? throw EvalRecordException.AtRow(path, at, "question", "is null, expected a string");
                string s = row.Subject ?? subject ?? throw EvalRecordException.AtRow(path, at, "subject", "is null, expected a subject name");
                var c = row.Choices ?? throw EvalRecordException.AtRow(path, at, "choices", "is null, expected 4 strings");
                if (c.Count != 4) throw EvalRecordException.AtRow(path, at, "choices", $"has {c.Count} entries, expected 4");
                if (row.Answer is not (>= 0 and <= 3)) throw EvalRecordException.AtRow(path, at, "answer", $"is {row.Answer}, expected 0..3");
                return new MmluItem(s, q, c.ToArray(), (int)row.Answer);
            });
        }
        return list.Done(path, "MMLU");
    }

    internal sealed class MmluParquetRow
    {
        [JsonPropertyName("question")] public string? Question { get; set; }
        [JsonPropertyName("subject")] public string? Subject { get; set; }
        [JsonPropertyName("choices")] public List<string>? Choices { get; set; }
        [JsonPropertyName("answer")] public long Answer { get; set; }
    }
}
