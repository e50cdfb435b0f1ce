using System.Runtime.InteropServices;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Loading;

/// <summary>
/// Stored bytes → a CPU tensor of the model dtype, row-chunk by row-chunk, never a whole-tensor float32 copy:
/// the same encoding is one copy out of the mapping; F32/F16/BF16/F64 of another dtype go through one chunk of the
/// stored dtype and torch's own conversion (round-to-nearest-even, as <c>tensor.to(dtype)</c>); quantized rows are
/// dequantized into a float32 chunk (Q8_0/Q4_0 by our managed code, the rest by ggml's to_float) and converted the same way.
/// </summary>
public static unsafe class StoredTensorConverter
{
    /// <summary>At most this many bytes of a staging chunk (and of each span handed around).</summary>
    public const long ChunkBytes = 16L << 20;

    public static Tensor ToTorch(StoredTensor t, byte* data, long length, ScalarType dtype, long chunkBytes = ChunkBytes)
    {
        if (chunkBytes <= 0) throw new ArgumentOutOfRangeException(nameof(chunkBytes), chunkBytes, "expected > 0");
        if (length != t.ByteSize) throw new ArgumentException($"tensor '{t.FileName}': {length} bytes given, {t.ByteSize} declared");
        long rows = t.Rows, rowLength = t.RowLength;
        long rowBytes = rows == 0 ? 0 : t.ByteSize / rows;
        var result = empty(t.Shape, dtype, CPU);
        if (rows == 0) return result;
        using var scope = NewDisposeScope();
        var flat = result.view(rows, rowLength); // [rows, rowLength], a view of result's storage
        ScalarType? stored = TorchDType(t.Type);
        int outSize = ElementSize(dtype);

        if (stored == dtype)
        {
            // Same encoding: bytes straight from the mapping into the tensor.
            long step = Math.Max(1, chunkBytes / Math.Max(rowBytes, 1));
            for (long r = 0; r < rows; r += step)
            {
                long n = Math.Min(step, rows - r);
                new ReadOnlySpan<byte>(data + r * rowBytes, checked((int)(n * rowBytes))).CopyTo(Bytes(flat.narrow(0, r, n)));
            }
            return result;
        }

        // Staging chunk of the stored dtype (plain floats) or float32 (quantized), reused for every chunk.
        ScalarType stage = stored ?? ScalarType.Float32;
        long stageRowBytes = rowLength * ElementSize(stage);
        long rowsPerChunk = Math.Max(1, chunkBytes / Math.Max(Math.Max(stageRowBytes, rowLength * outSize), 1));
        var staging = empty(Math.Min(rowsPerChunk, rows), rowLength, dtype: stage);
        for (long r = 0; r < rows; r += rowsPerChunk)
        {
            long n = Math.Min(rowsPerChunk, rows - r);
            var chunk = staging.narrow(0, 0, n);
            var src = new ReadOnlySpan<byte>(data + r * rowBytes, checked((int)(n * rowBytes)));
            if (stored is not null) src.CopyTo(Bytes(chunk));
            else Dequantize(t, src, MemoryMarshal.Cast<byte, float>(Bytes(chunk)), n, rowLength);
            flat.narrow(0, r, n).copy_(chunk);
        }
        return result;
    }

    private static void Dequantize(StoredTensor t, ReadOnlySpan<byte> src, Span<float> dst, long rows, long rowLength)
    {
        if (Quantizer.Supports(t.Type)) Quantizer.Dequantize(t.Type, src, dst, rows, rowLength);
        else if (GgmlQuantizer.CanDequantize(t.Type)) GgmlQuantizer.Dequantize(t.Type, src, dst, rows, rowLength);
        else throw new LlamaAdapter.Core.BadInputException($"tensor '{t.FileName}' has type {t.Type}, which ggml cannot convert to float");
    }

    /// <summary>The torch dtype with the same encoding as a ggml type, or null for block-quantized types.</summary>
    public static ScalarType? TorchDType(GgmlType t) => t switch
    {
        GgmlType.F32 => ScalarType.Float32,
        GgmlType.F16 => ScalarType.Float16,
        GgmlType.BF16 => ScalarType.BFloat16,
        GgmlType.F64 => ScalarType.Float64,
        _ => null,
    };

    private static int ElementSize(ScalarType t) => t switch
    {
        ScalarType.Float32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Float64 => 8,
        _ => throw new ArgumentException($"model dtype {t} is not a floating-point type the model supports (float32, float16, bfloat16, float64)"),
    };

    // TorchSharp's bytes is a span over a contiguous CPU tensor's own memory (views included): writes go through.
    private static Span<byte> Bytes(Tensor contiguousCpu) => contiguousCpu.bytes;
}
