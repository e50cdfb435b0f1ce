using System.Text;

namespace LlamaAdapter.Evaluation.Data;

/// <summary>One CSV record and the line it starts on (1-based), for error messages.</summary>
public sealed record CsvRecord(long Line, IReadOnlyList<string> Fields);

/// <summary>
/// RFC 4180 records as Python's csv module reads them (the TruthfulQA and MMLU files were written by it): commas,
/// double-quoted fields that may hold commas, quotes ("") and newlines. A quote left open at the end is an error.
/// </summary>
public static class CsvRecords
{
    public static IEnumerable<CsvRecord> Read(string path)
    {
        using var reader = new StreamReader(path, new UTF8Encoding(false, throwOnInvalidBytes: true), detectEncodingFromByteOrderMarks: true);
        var fields = new List<string>();
        var field = new StringBuilder();
        long line = 1, start = 1;
        bool quoted = false, any = false;
        int c;
        while ((c = reader.Read()) >= 0)
        {
            char ch = (char)c;
            if (quoted)
            {
                if (ch == '"')
                {
                    if (reader.Peek() == '"') { reader.Read(); field.Append('"'); }
                    else quoted = false;
                }
                else
                {
                    if (ch == '\n') line++;
                    field.Append(ch);
                }
                continue;
            }
            switch (ch)
            {
                case '"' when field.Length == 0:
                    quoted = true; any = true; break;
                case ',':
                    fields.Add(field.ToString()); field.Clear(); any = true; break;
                case '\r':
                    break; // \r\n ends a record at the \n; a bare \r inside an unquoted field is dropped as Python's reader does with newline=''
                case '\n':
                    if (any || field.Length > 0) { fields.Add(field.ToString()); yield return new CsvRecord(start, fields.ToArray()); }
                    fields.Clear(); field.Clear(); any = false;
                    line++; start = line;
                    break;
                default:
                    field.Append(ch); any = true; break;
            }
        }
        if (quoted) throw EvalRecordException.AtLine(path, start, "(record)", "has a quoted field that is never closed: expected a closing '\"'");
        if (any || field.Length > 0) { fields.Add(field.ToString()); yield return new CsvRecord(start, fields.ToArray()); }
    }
}
