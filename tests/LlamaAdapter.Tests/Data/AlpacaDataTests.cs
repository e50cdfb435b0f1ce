using LlamaAdapter.Core.Data;
using Parquet;
using Parquet.Schema;

namespace LlamaAdapter.Tests.Data;

public sealed class AlpacaDataTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("alpaca-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        string p = Path.Combine(_dir, name);
        File.WriteAllText(p, text);
        return p;
    }

    [Fact]
    public void Templates_AreTheReferenceTextsVerbatim()
    {
        Assert.Equal(
            "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\nAdd.\n\n### Input:\n2 3\n\n### Response:",
            AlpacaPrompt.Format("Add.", "2 3"));
        Assert.Equal(
            "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nSay hi.\n\n### Response:",
            AlpacaPrompt.Format("Say hi.", ""));
        // Braces in user text are data, not placeholders.
        Assert.Contains("### Instruction:\nuse {input} literally\n\n### Input:\nx", AlpacaPrompt.Format("use {input} literally", "x"));
    }

    [Fact]
    public async Task JsonArray_ReadsRecordsAndMissingInputIsEmpty()
    {
        string p = Write("a.json", """[{"instruction":"i1","input":"x","output":"o1"},{"instruction":"i2","output":"o2"},{"instruction":"i3","input":null,"output":"o3"}]""");
        var d = await AlpacaDataReader.LoadAsync(p);
        Assert.Equal([new("i1", "x", "o1"), new("i2", "", "o2"), new AlpacaExample("i3", "", "o3")], d.Examples);
        Assert.Equal(0, d.Skipped);
    }

    [Fact]
    public async Task BadRecord_IsReportedByIndexAndField_OrSkippedAndCounted()
    {
        string p = Write("bad.json", """[{"instruction":"i1","output":"o1"},{"instruction":"i2","output":7},{"output":"o3"}]""");
        var e = await Assert.ThrowsAsync<AlpacaRecordException>(() => AlpacaDataReader.LoadAsync(p));
        Assert.Equal(1, e.Index);
        Assert.Equal("output", e.Field);
        Assert.Contains("bad.json: record 1, field 'output': is a Number, expected a string", e.Message);

        var d = await AlpacaDataReader.LoadAsync(p, skipBad: true);
        Assert.Single(d.Examples);
        Assert.Equal(2, d.Skipped);
    }

    [Fact]
    public async Task JsonLines_NameTheLineOfABadRecord()
    {
        string p = Write("d.jsonl", "{\"instruction\":\"a\",\"output\":\"b\"}\n\n{\"instruction\":\"c\"}\n");
        var e = await Assert.ThrowsAsync<AlpacaRecordException>(() => AlpacaDataReader.LoadAsync(p));
        Assert.Contains("record 1 (line 3), field 'output': is missing", e.Message);
    }

    [Fact]
    public async Task EmptyOrUnknownFiles_AreClearErrors()
    {
        Assert.Contains("no usable records", (await Assert.ThrowsAsync<InvalidDataException>(() =>
            AlpacaDataReader.LoadAsync(Write("e.json", "[]")))).Message);
        Assert.Contains("unknown data format '.txt'", (await Assert.ThrowsAsync<InvalidDataException>(() =>
            AlpacaDataReader.LoadAsync(Write("e.txt", "x")))).Message);
        Assert.Contains("expected a JSON array", (await Assert.ThrowsAsync<InvalidDataException>(() =>
            AlpacaDataReader.LoadAsync(Write("o.json", "{}")))).Message);
    }

    [Fact]
    public async Task Parquet_ReadsTheSameColumns()
    {
        string p = Path.Combine(_dir, "d.parquet");
        var schema = new ParquetSchema(new DataField<string>("instruction"), new DataField<string>("input"), new DataField<string>("output"));
        await using (var fs = File.Create(p))
        await using (var w = await ParquetWriter.CreateAsync(schema, fs))
        {
            using var rg = w.CreateRowGroup();
            await rg.WriteAsync(schema.DataFields[0], new[] { "i1", "i2" });
            await rg.WriteAsync(schema.DataFields[1], new[] { "", "x" });
            await rg.WriteAsync(schema.DataFields[2], new[] { "o1", "o2" });
        }
        var d = await AlpacaDataReader.LoadAsync(p);
        Assert.Equal([new("i1", "", "o1"), new AlpacaExample("i2", "x", "o2")], d.Examples);
    }
}
