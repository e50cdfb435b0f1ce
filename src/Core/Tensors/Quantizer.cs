using System.Diagnostics;
using System.Runtime.InteropServices;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Core.Tensors;

/// <summary>
/// Row-wise conversion of float tensors to and from F32, F16, BF16, Q8_0 and Q4_0 in managed, vectorized code,
/// byte for byte what ggml_quantize_chunk writes and what ggml's to_float reads back. Other types go through
/// <see cref="GgmlQuantizer"/>. On an exception the destination's contents are unspecified.
/// </summary>
public static class Quantizer
{
    public static bool Supports(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.Q8_0 or GgmlType.Q4_0;

    /// <summary>Bytes that <paramref name="rows"/> rows of <paramref name="rowLength"/> values take as <paramref name="type"/>.</summary>
    public static long TensorBytes(GgmlType type, long rows, long rowLength) => rows * TensorRows.RowBytes(type, rows, rowLength);

    /// <summary>Converts src (rows x rowLength floats, row-major) to <paramref name="type"/> in dst.</summary>
    /// <exception cref="NonFiniteValueException">a NaN or infinity where <paramref name="type"/> is Q8_0 or Q4_0.</exception>
    public static unsafe void Quantize(GgmlType type, ReadOnlySpan<float> src, Span<byte> dst, long rows, long rowLength,
                                       int maxDegreeOfParallelism = -1)
    {
        RequireSupported(type);
        long rowBytes = TensorRows.Check(type, src.Length, dst.Length, rows, rowLength, nameof(src), nameof(dst));
        fixed (float* ps = src)
        fixed (byte* pd = dst)
        {
            nint s = (nint)ps, d = (nint)pd;
            TensorRows.For(rows, rowLength, maxDegreeOfParallelism, (first, count) =>
            {
                var x = new ReadOnlySpan<float>((float*)s + first * rowLength, checked((int)(count * rowLength)));
                var y = new Span<byte>((byte*)d + first * rowBytes, checked((int)(count * rowBytes)));
                int bad = QuantizeRows(type, x, y);
                if (bad >= 0) throw new NonFiniteValueException(type, first + bad / rowLength, bad % rowLength, x[bad]);
            });
        }
    }

    /// <summary>Converts src (rows x rowLength values of <paramref name="type"/>) to floats in dst.</summary>
    public static unsafe void Dequantize(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst, long rows, long rowLength,
                                         int maxDegreeOfParallelism = -1)
    {
        RequireSupported(type);
        long rowBytes = TensorRows.Check(type, dst.Length, src.Length, rows, rowLength, nameof(dst), nameof(src));
        fixed (byte* ps = src)
        fixed (float* pd = dst)
        {
            nint s = (nint)ps, d = (nint)pd;
            TensorRows.For(rows, rowLength, maxDegreeOfParallelism, (first, count) =>
            {
                var x = new ReadOnlySpan<byte>((byte*)s + first * rowBytes, checked((int)(count * rowBytes)));
                var y = new Span<float>((float*)d + first * rowLength, checked((int)(count * rowLength)));
                DequantizeRows(type, x, y);
            });
        }
    }

    /// <summary>Whole rows, already checked; returns the index of the first non-finite value or -1.</summary>
    private static int QuantizeRows(GgmlType type, ReadOnlySpan<float> x, Span<byte> y)
    {
        switch (type)
        {
            case GgmlType.F32: MemoryMarshal.AsBytes(x).CopyTo(y); return -1;
            case GgmlType.F16: Fp16.FromFloat(x, MemoryMarshal.Cast<byte, ushort>(y)); return -1;
            case GgmlType.BF16: Bf16.FromFloat(x, MemoryMarshal.Cast<byte, ushort>(y)); return -1;
            case GgmlType.Q8_0: return Q8_0.QuantizeRow(x, y);
            case GgmlType.Q4_0: return Q4_0.QuantizeRow(x, y);
            default: throw new UnreachableException();
        }
    }

    private static void DequantizeRows(GgmlType type, ReadOnlySpan<byte> x, Span<float> y)
    {
        switch (type)
        {
            case GgmlType.F32: x.CopyTo(MemoryMarshal.AsBytes(y)); break;
            case GgmlType.F16: Fp16.ToFloat(MemoryMarshal.Cast<byte, ushort>(x), y); break;
            case GgmlType.BF16: Bf16.ToFloat(MemoryMarshal.Cast<byte, ushort>(x), y); break;
            case GgmlType.Q8_0: Q8_0.DequantizeRow(x, y); break;
            case GgmlType.Q4_0: Q4_0.DequantizeRow(x, y); break;
            default: throw new UnreachableException();
        }
    }

    private static void RequireSupported(GgmlType type)
    {
        if (!Supports(type))
            throw new ArgumentException($"{type} has no managed implementation (F32, F16, BF16, Q8_0, Q4_0 do); use GgmlQuantizer", nameof(type));
    }
}
