using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LlamaAdapter.Core.Tensors;

/// <summary>
/// Q8_0: blocks of 32 values stored as { fp16 d; int8 qs[32] } (34 bytes), value = qs[j] * d.
/// Quantization is ggml's quantize_row_q8_0_ref: d = amax / 127 and id = 1 / d computed in float, d stored as fp16
/// (the quants use the unrounded id), qs = roundf(x * id) with halves rounded away from zero.
/// </summary>
public static class Q8_0
{
    public const int BlockSize = 32;
    public const int BlockBytes = 2 + BlockSize;

    /// <summary>Quantizes whole blocks of <paramref name="x"/>; returns the index of the first non-finite value
    /// (blocks before it are written) or -1.</summary>
    internal static int QuantizeRow(ReadOnlySpan<float> x, Span<byte> y)
    {
        if (!Vector256.IsHardwareAccelerated) return QuantizeRowScalar(x, y);
        int nb = x.Length / BlockSize;
        ref float xs = ref MemoryMarshal.GetReference(x);
        ref byte ys = ref MemoryMarshal.GetReference(y);
        var inf = Vector256.Create(float.PositiveInfinity);
        for (int i = 0; i < nb; i++)
        {
            nuint o = (nuint)(i * BlockSize);
            var v0 = Vector256.LoadUnsafe(ref xs, o);
            var v1 = Vector256.LoadUnsafe(ref xs, o + 8);
            var v2 = Vector256.LoadUnsafe(ref xs, o + 16);
            var v3 = Vector256.LoadUnsafe(ref xs, o + 24);
            var a0 = Vector256.Abs(v0); var a1 = Vector256.Abs(v1); var a2 = Vector256.Abs(v2); var a3 = Vector256.Abs(v3);
            // NaN compares false, so this also catches NaN.
            var finite = Vector256.LessThan(a0, inf) & Vector256.LessThan(a1, inf) & Vector256.LessThan(a2, inf) & Vector256.LessThan(a3, inf);
            if (finite.ExtractMostSignificantBits() != 0xFF) return i * BlockSize + FirstNonFinite(x.Slice(i * BlockSize, BlockSize));

            float amax = HorizontalMax(Vector256.MaxNative(Vector256.MaxNative(a0, a1), Vector256.MaxNative(a2, a3)));
            float d = amax / 127f;
            float id = d != 0 ? 1f / d : 0f;
            ref byte block = ref Unsafe.Add(ref ys, i * BlockBytes);
            Unsafe.WriteUnaligned(ref block, ToLittleEndian(Fp16.FromFloat(d)));

            var idv = Vector256.Create(id);
            var q01 = Vector256.Narrow(Quant.RoundToInt(v0 * idv), Quant.RoundToInt(v1 * idv));
            var q23 = Vector256.Narrow(Quant.RoundToInt(v2 * idv), Quant.RoundToInt(v3 * idv));
            Vector256.Narrow(q01, q23).StoreUnsafe(ref Unsafe.As<byte, sbyte>(ref Unsafe.Add(ref block, 2)));
        }
        return -1;
    }

    internal static int QuantizeRowScalar(ReadOnlySpan<float> x, Span<byte> y)
    {
        for (int i = 0; i < x.Length / BlockSize; i++)
        {
            var xb = x.Slice(i * BlockSize, BlockSize);
            var yb = y.Slice(i * BlockBytes, BlockBytes);
            float amax = 0;
            for (int j = 0; j < BlockSize; j++)
            {
                if (!float.IsFinite(xb[j])) return i * BlockSize + j;
                amax = MathF.Max(amax, MathF.Abs(xb[j]));
            }
            float d = amax / 127f;
            float id = d != 0 ? 1f / d : 0f;
            BinaryPrimitives.WriteUInt16LittleEndian(yb, Fp16.FromFloat(d));
            for (int j = 0; j < BlockSize; j++) yb[2 + j] = (byte)Quant.ToInt8(Quant.RoundAwayFromZero(xb[j] * id));
        }
        return -1;
    }

    internal static void DequantizeRow(ReadOnlySpan<byte> x, Span<float> y)
    {
        if (Avx2.IsSupported) DequantizeRowAvx2(x, y);
        else if (Vector256.IsHardwareAccelerated) DequantizeRowVector256(x, y);
        else DequantizeRowScalar(x, y);
    }

    /// <summary>x86: vpmovsxbd sign-extends 8 quants straight from memory, sparing the two-step widening.</summary>
    internal static unsafe void DequantizeRowAvx2(ReadOnlySpan<byte> x, Span<float> y)
    {
        int nb = y.Length / BlockSize;
        fixed (byte* xs = x)
        fixed (float* ys = y)
        {
            for (int i = 0; i < nb; i++)
            {
                byte* block = xs + i * BlockBytes;
                var d = Vector256.Create(Fp16.ToFloat(FromLittleEndian(Unsafe.ReadUnaligned<ushort>(block))));
                sbyte* q = (sbyte*)(block + 2);
                float* o = ys + i * BlockSize;
                Avx.Store(o, Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q)) * d);
                Avx.Store(o + 8, Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q + 8)) * d);
                Avx.Store(o + 16, Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q + 16)) * d);
                Avx.Store(o + 24, Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(q + 24)) * d);
            }
        }
    }

    internal static void DequantizeRowVector256(ReadOnlySpan<byte> x, Span<float> y)
    {
        int nb = y.Length / BlockSize;
        ref byte xs = ref MemoryMarshal.GetReference(x);
        ref float ys = ref MemoryMarshal.GetReference(y);
        for (int i = 0; i < nb; i++)
        {
            ref byte block = ref Unsafe.Add(ref xs, i * BlockBytes);
            var d = Vector256.Create(Fp16.ToFloat(FromLittleEndian(Unsafe.ReadUnaligned<ushort>(ref block))));
            var q = Vector256.LoadUnsafe(ref Unsafe.As<byte, sbyte>(ref Unsafe.Add(ref block, 2)));
            Quant.StoreScaled(q, d, ref ys, (nuint)(i * BlockSize));
        }
    }

    internal static void DequantizeRowScalar(ReadOnlySpan<byte> x, Span<float> y)
    {
        for (int i = 0; i < y.Length / BlockSize; i++)
        {
            float d = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(x.Slice(i * BlockBytes)));
            for (int j = 0; j < BlockSize; j++) y[i * BlockSize + j] = (sbyte)x[i * BlockBytes + 2 + j] * d;
        }
    }

    private static int FirstNonFinite(ReadOnlySpan<float> block)
    {
        for (int j = 0; j < block.Length; j++) if (!float.IsFinite(block[j])) return j;
        throw new UnreachableException();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float HorizontalMax(Vector256<float> v)
    {
        var m = Vector128.MaxNative(v.GetLower(), v.GetUpper());
        return MathF.Max(MathF.Max(m[0], m[1]), MathF.Max(m[2], m[3]));
    }

    private static ushort ToLittleEndian(ushort v) => BitConverter.IsLittleEndian ? v : BinaryPrimitives.ReverseEndianness(v);
    private static ushort FromLittleEndian(ushort v) => ToLittleEndian(v);
}
