using System.Text.Json;
using Parquet;
using Parquet.Schema;

namespace LlamaAdapter.Core.Data;

/// <summary>
/// Reads Alpaca data: a JSON array (Stanford's alpaca_data.json), JSON Lines, or Parquet with string columns
/// instruction, input (optional) and output. A bad record is an error naming its index and field, unless
/// <c>skipBad</c>, which skips it and counts it.
/// </summary>
public static class AlpacaDataReader
{
    public static async Task<AlpacaDataset> LoadAsync(string path, bool skipBad = false, CancellationToken ct = default)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: data file not found", path);
        string ext = Path.GetExtension(path).ToLowerInvariant();
        var (examples, skipped) = ext switch
        {
            ".json" => ReadJsonArray(path, skipBad, ct),
            ".jsonl" => ReadJsonLines(path, skipBad, ct),
            ".parquet" => await ReadParquetAsync(path, skipBad, ct),
            _ => throw new InvalidDataException($"{path}: unknown data format '{ext}': expected .json (an array of records), .jsonl or .parquet"),
        };
        if (examples.Count == 0)
            throw new InvalidDataException($"{path}: no usable records{(skipped > 0 ? $" ({skipped} bad ones skipped)" : "")}");
        return new AlpacaDataset(path, examples, skipped);
    }

    private static (List<AlpacaExample>, int) ReadJsonArray(string path, bool skipBad, CancellationToken ct)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { MaxDepth = 64 }); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine}): {e.Message}"); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Array)
                throw new InvalidDataException($"{path}: expected a JSON array of records, found a {doc.RootElement.ValueKind}");
            var list = new List<AlpacaExample>(doc.RootElement.GetArrayLength());
            int index = 0, skipped = 0;
            foreach (var el in doc.RootElement.EnumerateArray())
            {
                ct.ThrowIfCancellationRequested();
                if (Accept(() => FromJson(el, path, index, line: null), skipBad) is { } e) list.Add(e); else skipped++;
                index++;
            }
            return (list, skipped);
        }
    }

    private static (List<AlpacaExample>, int) ReadJsonLines(string path, bool skipBad, CancellationToken ct)
    {
        var list = new List<AlpacaExample>();
        int index = 0, skipped = 0;
        long line = 0;
        foreach (var text in File.ReadLines(path))
        {
            ct.ThrowIfCancellationRequested();
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            int i = index++;
            var e = Accept(() =>
            {
                JsonDocument doc;
                try { doc = JsonDocument.Parse(text); }
                catch (JsonException ex) { throw new AlpacaRecordException(path, i, line, "(record)", $"not valid JSON: {ex.Message}"); }
                using (doc) return FromJson(doc.RootElement, path, i, line);
            }, skipBad);
            if (e is not null) list.Add(e); else skipped++;
        }
        return (list, skipped);
    }

    private static async Task<(List<AlpacaExample>, int)> ReadParquetAsync(string path, bool skipBad, CancellationToken ct)
    {
        await using var stream = File.OpenRead(path);
        ParquetReader reader;
        try { reader = await ParquetReader.CreateAsync(stream, cancellationToken: ct); }
        catch (Exception e) when (e is not OperationCanceledException) { throw new InvalidDataException($"{path}: not a readable Parquet file: {e.Message}"); }
        await using (reader)
        {
            var fields = reader.Schema.GetDataFields();
            DataField Column(string name, bool required) =>
                fields.FirstOrDefault(f => f.Name == name) is { } f
                    ? (IsText(f) ? f : throw new InvalidDataException($"{path}: column '{name}' is {f.ClrType.Name}, expected string"))
                    : required ? throw new InvalidDataException($"{path}: column '{name}' is missing (expected string columns instruction, input, output)") : null!;
            var instruction = Column("instruction", true);
            var input = Column("input", false);
            var output = Column("output", true);

            var list = new List<AlpacaExample>();
            int index = 0, skipped = 0;
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                using var rg = reader.OpenRowGroupReader(g);
                async Task<string?[]> Read(DataField f)
                {
                    var values = new string?[checked((int)rg.RowCount)];
                    await rg.ReadAsync(f, values.AsMemory()!, null, ct);
                    return values;
                }
                var ins = await Read(instruction);
                var inp = input is null ? null : await Read(input);
                var outs = await Read(output);
                for (int r = 0; r < ins.Length; r++, index++)
                {
                    int i = index;
                    string? a = ins[r], b = inp?[r] ?? "", c = outs[r];
                    var e = Accept(() => new AlpacaExample(
                        a ?? throw new AlpacaRecordException(path, i, null, "instruction", "is null, expected a string"),
                        b,
                        c ?? throw new AlpacaRecordException(path, i, null, "output", "is null, expected a string")), skipBad);
                    if (e is not null) list.Add(e); else skipped++;
                }
            }
            return (list, skipped);
        }
    }

    // Parquet.Net 6 reports UTF-8 string columns as ReadOnlyMemory<char> (older writers: string).
    private static bool IsText(DataField f) => f.ClrType == typeof(string) || f.ClrType == typeof(ReadOnlyMemory<char>);

    private static AlpacaExample? Accept(Func<AlpacaExample> read, bool skipBad)
    {
        try { return read(); }
        catch (AlpacaRecordException) when (skipBad) { return null; }
    }

    private static AlpacaExample FromJson(JsonElement el, string path, int index, long? line)
    {
        if (el.ValueKind != JsonValueKind.Object)
            throw new AlpacaRecordException(path, index, line, "(record)", $"is a {el.ValueKind}, expected an object with instruction, input, output");
        string Field(string name, bool required)
        {
            if (!el.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
                return required ? throw new AlpacaRecordException(path, index, line, name, "is missing, expected a string") : "";
            return v.ValueKind == JsonValueKind.String ? v.GetString()!
                : throw new AlpacaRecordException(path, index, line, name, $"is a {v.ValueKind}, expected a string");
        }
        return new AlpacaExample(Field("instruction", true), Field("input", false), Field("output", true));
    }
}
