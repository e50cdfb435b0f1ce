using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tensors;

namespace LlamaAdapter.Convert;

/// <summary>
/// Converts one tensor from its stored type to the output type, a chunk of rows at a time: rows to float (HF wq/wk
/// rows un-permuted to Meta order first), float to the output type in parallel over rows, then out to the stream.
/// Memory in flight is one chunk, whatever the tensor's size.
/// </summary>
internal static class TensorConversion
{
    public static void Write(ReadOnlySpan<byte> raw, SourceTensor t, GgmlType outType, Stream output, ConvertOptions o, CancellationToken ct)
    {
        long rows = t.Rows, rowLength = t.RowLength;
        long inRowBytes = GgmlTypeTraits.RowBytes(t.DType, rowLength)
            ?? throw new InvalidOperationException($"tensor '{t.SourceName}': row length {rowLength} is not whole {t.DType} blocks");
        long outRowBytes = GgmlTypeTraits.RowBytes(outType, rowLength)
            ?? throw new InvalidOperationException($"tensor '{t.SourceName}': row length {rowLength} is not whole {outType} blocks");
        if (raw.Length != rows * inRowBytes)
            throw new Core.BadInputException($"tensor '{t.SourceName}' holds {raw.Length} bytes; {rows} rows of {rowLength} {t.DType} take {rows * inRowBytes}");

        // Permuted tensors are converted whole heads at a time: the permutation stays inside a head.
        long group = t.HfRotaryHeads > 0 ? rows / t.HfRotaryHeads : 1;
        long chunkRows = Math.Max(group, Math.Max(1, o.ChunkElements / rowLength) / group * group);
        chunkRows = Math.Min(chunkRows, rows);
        var floats = new float[checked(chunkRows * rowLength)];
        var packed = new byte[checked(chunkRows * outRowBytes)];
        var permuted = t.HfRotaryHeads > 0 ? new byte[checked(chunkRows * inRowBytes)] : null;

        for (long r0 = 0; r0 < rows; r0 += chunkRows)
        {
            ct.ThrowIfCancellationRequested();
            long n = Math.Min(chunkRows, rows - r0);
            var input = raw.Slice(checked((int)(r0 * inRowBytes)), checked((int)(n * inRowBytes)));
            if (permuted is not null)
            {
                var dst = permuted.AsSpan(0, input.Length);
                RotaryPermutation.HfToMeta(input, dst, checked((int)n), checked((int)(n / group)));
                input = dst;
            }
            var f = floats.AsSpan(0, checked((int)(n * rowLength)));
            var y = packed.AsSpan(0, checked((int)(n * outRowBytes)));
            ToFloat(t.DType, input, f, n, rowLength, o.MaxDegreeOfParallelism);
            try { FromFloat(outType, f, y, n, rowLength, o.MaxDegreeOfParallelism); }
            catch (NonFiniteValueException e)
            {
                throw new Core.BadInputException($"tensor '{t.SourceName}': row {r0 + e.Row}, column {e.Column} is NaN or infinite; {outType} needs finite values", e);
            }
            output.Write(y);
        }
    }

    public static void ToFloat(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst, long rows, long rowLength, int dop)
    {
        if (Quantizer.Supports(type)) Quantizer.Dequantize(type, src, dst, rows, rowLength, dop);
        else GgmlQuantizer.Dequantize(type, src, dst, rows, rowLength, dop);
    }

    public static void FromFloat(GgmlType type, ReadOnlySpan<float> src, Span<byte> dst, long rows, long rowLength, int dop)
    {
        if (Quantizer.Supports(type)) Quantizer.Quantize(type, src, dst, rows, rowLength, dop);
        else GgmlQuantizer.Quantize(type, src, dst, rows, rowLength, maxDegreeOfParallelism: dop);
    }
}
