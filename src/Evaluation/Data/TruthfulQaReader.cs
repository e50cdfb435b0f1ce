namespace LlamaAdapter.Evaluation.Data;

/// <summary>
/// A TruthfulQA question from the upstream CSV, its answers formatted as TruthfulQA's own MC code does
/// (utilities.format_best / split_multi_answer: split on ';', trimmed, a period added where missing) — HF's
/// multiple_choice targets end in periods too.
/// </summary>
public sealed record TruthfulQaItem(string Type, string Category, string Question, string Best, IReadOnlyList<string> Correct, IReadOnlyList<string> Incorrect)
{
    /// <summary>mc1: the best answer first (gold 0), then the incorrect answers.</summary>
    public IReadOnlyList<string> Mc1Choices => [Best, .. Incorrect];

    /// <summary>mc2: every correct answer (labels 1) then every incorrect one (labels 0), as HF's mc2_targets order them.</summary>
    public IReadOnlyList<string> Mc2Choices => [.. Correct, .. Incorrect];
    public IReadOnlyList<int> Mc2Labels => [.. Correct.Select(_ => 1), .. Incorrect.Select(_ => 0)];
}

/// <summary>
/// TruthfulQA.csv (sylinrl/TruthfulQA: Type, Category, Question, Best Answer, Correct Answers, Incorrect Answers,
/// Source). The harness scores HF's truthful_qa multiple_choice config, which comes from the repository's
/// mc_task.json, not from this CSV: its mc1 lists a curated subset of the incorrect answers (HF's card shows 4
/// choices where the CSV has more), so it cannot be rebuilt exactly. The approximation here is TruthfulQA's own
/// MC1/MC2 definition over the CSV: mc1 = best answer vs every incorrect answer, mc2 = all correct vs all incorrect.
/// </summary>
public static class TruthfulQaReader
{
    private static readonly string[] Header = ["Type", "Category", "Question", "Best Answer", "Correct Answers", "Incorrect Answers"];

    public static Loaded<TruthfulQaItem> Load(string path, bool skipBad = false)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: TruthfulQA file not found", path);
        using var records = CsvRecords.Read(path).GetEnumerator();
        if (!records.MoveNext()) throw EvalRecordException.AtLine(path, 1, "(header)", $"is missing, expected {string.Join(",", Header)},Source");
        var header = records.Current.Fields;
        var col = new int[Header.Length];
        for (int i = 0; i < Header.Length; i++)
        {
            col[i] = header.ToList().IndexOf(Header[i]);
            if (col[i] < 0) throw EvalRecordException.AtLine(path, 1, "(header)", $"has no column '{Header[i]}', expected {string.Join(",", Header)},Source");
        }
        var list = new RecordList<TruthfulQaItem>(skipBad);
        while (records.MoveNext())
        {
            var rec = records.Current;
            list.Add(() =>
            {
                var f = rec.Fields;
                if (f.Count != header.Count) throw EvalRecordException.AtLine(path, rec.Line, "(record)", $"has {f.Count} fields, expected {header.Count} as the header");
                string Required(int k) => f[col[k]].Trim() is { Length: > 0 } s ? s : throw EvalRecordException.AtLine(path, rec.Line, Header[k], "is empty");
                var correct = Split(Required(4));
                var incorrect = Split(Required(5));
                if (incorrect.Count == 0) throw EvalRecordException.AtLine(path, rec.Line, "Incorrect Answers", "has no answers, expected ';'-separated answers");
                return new TruthfulQaItem(f[col[0]], f[col[1]], Required(2), Close(Required(3)), correct, incorrect);
            });
        }
        return list.Done(path, "TruthfulQA");
    }

    private static List<string> Split(string answers) =>
        answers.Split(';').Select(a => a.Trim()).Where(a => a.Length > 0).Select(Close).ToList();

    private static string Close(string answer) => answer.EndsWith('.') ? answer : answer + ".";
}
