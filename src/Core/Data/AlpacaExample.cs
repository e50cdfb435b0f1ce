namespace LlamaAdapter.Core.Data;

/// <summary>One Alpaca record: an instruction, an optional input (empty when absent), and the response.</summary>
public sealed record AlpacaExample(string Instruction, string Input, string Output);

/// <summary>The records of a data file, and how many bad ones were skipped (only with skip-bad).</summary>
public sealed record AlpacaDataset(string Source, IReadOnlyList<AlpacaExample> Examples, int Skipped);

/// <summary>A record that is not an Alpaca record; names the file, the record's index (and line, for JSONL) and the field.</summary>
public sealed class AlpacaRecordException(string file, int index, long? line, string field, string problem)
    : BadInputException($"{file}: record {index}{(line is { } l ? $" (line {l})" : "")}, field '{field}': {problem}")
{
    public string File { get; } = file;
    public int Index { get; } = index;
    public string Field { get; } = field;
}
