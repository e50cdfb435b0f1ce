using System.Runtime.ExceptionServices;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Core.Tensors;

/// <summary>
/// Checks a (rows x rowLength) tensor against the buffers that hold it in float and in <see cref="GgmlType"/> form,
/// and splits it into row ranges for parallel work. Every size is checked here, before any native call.
/// </summary>
internal static class TensorRows
{
    /// <summary>Rows per parallel chunk are chosen so each chunk holds about this many elements.</summary>
    private const long ElementsPerChunk = 1 << 18;

    /// <summary>Validates the shape and both buffer lengths; returns the bytes of one row.</summary>
    public static long Check(GgmlType type, long floatCount, long byteCount, long rows, long rowLength, string floatName, string byteName)
    {
        long rowBytes = RowBytes(type, rows, rowLength);
        if (floatCount != rows * rowLength)
            throw new ArgumentException(
                $"{floatName} holds {floatCount} floats; {rows} rows of {rowLength} need exactly {rows * rowLength}", floatName);
        if (byteCount != rows * rowBytes)
            throw new ArgumentException(
                $"{byteName} holds {byteCount} bytes; {rows} rows of {rowLength} {type} values need exactly {rows * rowBytes}", byteName);
        return rowBytes;
    }

    /// <summary>Validates the type and shape (whole blocks, no 64-bit overflow); returns the bytes of one row.</summary>
    public static long RowBytes(GgmlType type, long rows, long rowLength)
    {
        if (!GgmlTypeTraits.IsKnown(type))
            throw new ArgumentException($"unknown ggml tensor type {(int)type}", nameof(type));
        if (rows < 0) throw new ArgumentOutOfRangeException(nameof(rows), rows, "rows must be >= 0");
        if (rowLength <= 0) throw new ArgumentOutOfRangeException(nameof(rowLength), rowLength, "rowLength must be > 0");
        var layout = GgmlTypeTraits.Layout(type);
        if (rowLength % layout.BlockSize != 0)
            throw new ArgumentException(
                $"rowLength {rowLength} is not a multiple of {type}'s block size {layout.BlockSize}", nameof(rowLength));
        long rowBytes = rowLength / layout.BlockSize * layout.TypeSize;
        if (rows > 0 && (rowLength > long.MaxValue / rows || rowBytes > long.MaxValue / rows))
            throw new ArgumentOutOfRangeException(nameof(rows), rows, $"{rows} rows of {rowLength} overflow a 64-bit size");
        return rowBytes;
    }

    /// <summary>Runs <paramref name="body"/>(firstRow, rowCount) over all rows, in parallel when the tensor is big
    /// and <paramref name="maxDegreeOfParallelism"/> allows (-1: all cores, 1: this thread only).</summary>
    public static void For(long rows, long rowLength, int maxDegreeOfParallelism, Action<long, long> body)
    {
        if (maxDegreeOfParallelism == 0 || maxDegreeOfParallelism < -1)
            throw new ArgumentOutOfRangeException(nameof(maxDegreeOfParallelism), maxDegreeOfParallelism, "use -1 (all cores) or a count >= 1");
        long rowsPerChunk = Math.Max(1, ElementsPerChunk / rowLength);
        long chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
        if (chunks <= 1 || maxDegreeOfParallelism == 1 || Environment.ProcessorCount == 1)
        {
            if (rows > 0) body(0, rows);
            return;
        }
        var options = new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism };
        try
        {
            Parallel.For(0L, chunks, options, c =>
            {
                long first = c * rowsPerChunk;
                body(first, Math.Min(rowsPerChunk, rows - first));
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            // Callers see the same exception as on one thread: the one about the earliest failing row.
            var first = e.InnerExceptions.OrderBy(x => x is NonFiniteValueException n ? n.Row : long.MaxValue).First();
            ExceptionDispatchInfo.Capture(first).Throw();
        }
    }
}

/// <summary>A quantized type cannot represent NaN or infinity; the row and column say where the value is.</summary>
public sealed class NonFiniteValueException(GgmlType type, long row, long column, float value)
    : BadInputException($"row {row}, column {column} holds {value}; {type} quantization needs finite values")
{
    public GgmlType Type { get; } = type;
    public long Row { get; } = row;
    public long Column { get; } = column;
}
