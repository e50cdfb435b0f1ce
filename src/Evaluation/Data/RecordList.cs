namespace LlamaAdapter.Evaluation.Data;

/// <summary>Collects records, turning a bad one into a skip when asked to (the loaders' shared <c>--skip-bad</c> rule).</summary>
internal sealed class RecordList<T>(bool skipBad)
{
    public List<T> Items { get; } = [];
    public int Skipped { get; private set; }

    public void Add(Func<T> read)
    {
        try { Items.Add(read()); }
        catch (EvalRecordException) when (skipBad) { Skipped++; }
    }

    public Loaded<T> Done(string path, string what)
    {
        if (Items.Count == 0)
            throw new LlamaAdapter.Core.BadInputException($"{path}: no usable {what} records{(Skipped > 0 ? $" ({Skipped} bad ones skipped)" : "")}");
        return new Loaded<T>(path, Items, Skipped);
    }
}
