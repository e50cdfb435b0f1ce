using Parquet.Serialization;

namespace LlamaAdapter.Evaluation.Data;

/// <summary>Parquet rows into classes whose properties name the columns (nested structs and lists as HF datasets write them).</summary>
internal static class ParquetRows
{
    public static async Task<IList<T>> ReadAsync<T>(string path, CancellationToken ct) where T : class, new()
    {
        await using var stream = File.OpenRead(path);
        try { return (await ParquetSerializer.DeserializeAsync<T>(stream, cancellationToken: ct)).Data; }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new LlamaAdapter.Core.BadInputException($"{path}: not a readable Parquet file with the expected columns: {e.Message}", e);
        }
    }
}
