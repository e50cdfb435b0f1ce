using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LlamaAdapter.Core.Tensors;

/// <summary>
/// Q4_0: blocks of 32 values stored as { fp16 d; uint8 qs[16] } (18 bytes); byte j holds value j in its low nibble
/// and value j + 16 in its high nibble, value = (nibble - 8) * d.
/// Quantization is ggml's quantize_row_q4_0_ref: max = the first value of largest magnitude, sign kept;
/// d = max / -8 and id = 1 / d in float; nibble = min(15, (int8)(x * id + 8.5f)), truncating toward zero.
/// </summary>
public static class Q4_0
{
    public const int BlockSize = 32;
    public const int BlockBytes = 2 + BlockSize / 2;

    /// <summary>Quantizes whole blocks of <paramref name="x"/>; returns the index of the first non-finite value
    /// (blocks before it are written) or -1.</summary>
    internal static int QuantizeRow(ReadOnlySpan<float> x, Span<byte> y)
    {
        if (!Vector256.IsHardwareAccelerated) return QuantizeRowScalar(x, y);
        int nb = x.Length / BlockSize;
        ref float xs = ref MemoryMarshal.GetReference(x);
        ref byte ys = ref MemoryMarshal.GetReference(y);
        var inf = Vector256.Create(float.PositiveInfinity);
        var half = Vector256.Create(8.5f);
        var fifteen = Vector256.Create(15);
        for (int i = 0; i < nb; i++)
        {
            nuint o = (nuint)(i * BlockSize);
            var v0 = Vector256.LoadUnsafe(ref xs, o);
            var v1 = Vector256.LoadUnsafe(ref xs, o + 8);
            var v2 = Vector256.LoadUnsafe(ref xs, o + 16);
            var v3 = Vector256.LoadUnsafe(ref xs, o + 24);
            var a0 = Vector256.Abs(v0); var a1 = Vector256.Abs(v1); var a2 = Vector256.Abs(v2); var a3 = Vector256.Abs(v3);
            var finite = Vector256.LessThan(a0, inf) & Vector256.LessThan(a1, inf) & Vector256.LessThan(a2, inf) & Vector256.LessThan(a3, inf);
            if (finite.ExtractMostSignificantBits() != 0xFF)
            {
                var block = x.Slice(i * BlockSize, BlockSize);
                for (int j = 0; j < BlockSize; j++) if (!float.IsFinite(block[j])) return i * BlockSize + j;
            }

            float amax = Q8_0.HorizontalMax(Vector256.MaxNative(Vector256.MaxNative(a0, a1), Vector256.MaxNative(a2, a3)));
            float max = 0;
            if (amax > 0)
            {
                // ggml keeps the first value reaching the largest magnitude ("if (amax < fabsf(v))").
                var m = Vector256.Create(amax);
                uint hits = Vector256.Equals(a0, m).ExtractMostSignificantBits() | Vector256.Equals(a1, m).ExtractMostSignificantBits() << 8
                          | Vector256.Equals(a2, m).ExtractMostSignificantBits() << 16 | Vector256.Equals(a3, m).ExtractMostSignificantBits() << 24;
                max = Unsafe.Add(ref xs, (int)o + BitOperations.TrailingZeroCount(hits));
            }
            float d = max / -8f;
            float id = d != 0 ? 1f / d : 0f;
            ref byte yb = ref Unsafe.Add(ref ys, i * BlockBytes);
            Unsafe.WriteUnaligned(ref yb, BitConverter.IsLittleEndian ? Fp16.FromFloat(d) : BinaryPrimitives.ReverseEndianness(Fp16.FromFloat(d)));

            var idv = Vector256.Create(id);
            var n0 = Vector256.Min(Quant.ToInt8(v0 * idv + half), fifteen); // values 0..7
            var n1 = Vector256.Min(Quant.ToInt8(v1 * idv + half), fifteen); // 8..15
            var n2 = Vector256.Min(Quant.ToInt8(v2 * idv + half), fifteen); // 16..23
            var n3 = Vector256.Min(Quant.ToInt8(v3 * idv + half), fifteen); // 24..31
            var packed = Vector256.Narrow(n0 | (n2 << 4), n1 | (n3 << 4));              // 16 shorts, bytes 0..15
            Vector256.Narrow(packed, packed).GetLower().AsByte().StoreUnsafe(ref Unsafe.Add(ref yb, 2));
        }
        return -1;
    }

    internal static int QuantizeRowScalar(ReadOnlySpan<float> x, Span<byte> y)
    {
        for (int i = 0; i < x.Length / BlockSize; i++)
        {
            var xb = x.Slice(i * BlockSize, BlockSize);
            var yb = y.Slice(i * BlockBytes, BlockBytes);
            float amax = 0, max = 0;
            for (int j = 0; j < BlockSize; j++)
            {
                if (!float.IsFinite(xb[j])) return i * BlockSize + j;
                if (amax < MathF.Abs(xb[j])) { amax = MathF.Abs(xb[j]); max = xb[j]; }
            }
            float d = max / -8f;
            float id = d != 0 ? 1f / d : 0f;
            BinaryPrimitives.WriteUInt16LittleEndian(yb, Fp16.FromFloat(d));
            for (int j = 0; j < BlockSize / 2; j++)
            {
                int lo = Math.Min(15, (int)Quant.ToInt8(xb[j] * id + 8.5f));
                int hi = Math.Min(15, (int)Quant.ToInt8(xb[j + BlockSize / 2] * id + 8.5f));
                yb[2 + j] = (byte)(lo | hi << 4);
            }
        }
        return -1;
    }

    internal static void DequantizeRow(ReadOnlySpan<byte> x, Span<float> y)
    {
        if (!Vector256.IsHardwareAccelerated) { DequantizeRowScalar(x, y); return; }
        int nb = y.Length / BlockSize;
        ref byte xs = ref MemoryMarshal.GetReference(x);
        ref float ys = ref MemoryMarshal.GetReference(y);
        var low = Vector128.Create((byte)0x0F);
        var eight = Vector256.Create((sbyte)8);
        for (int i = 0; i < nb; i++)
        {
            ref byte block = ref Unsafe.Add(ref xs, i * BlockBytes);
            ushort dh = Unsafe.ReadUnaligned<ushort>(ref block);
            var d = Vector256.Create(Fp16.ToFloat(BitConverter.IsLittleEndian ? dh : BinaryPrimitives.ReverseEndianness(dh)));
            var b = Vector128.LoadUnsafe(ref Unsafe.Add(ref block, 2));
            var nibbles = Vector256.Create(b & low, b >>> 4).AsSByte() - eight; // values 0..15 then 16..31
            Quant.StoreScaled(nibbles, d, ref ys, (nuint)(i * BlockSize));
        }
    }

    internal static void DequantizeRowScalar(ReadOnlySpan<byte> x, Span<float> y)
    {
        for (int i = 0; i < y.Length / BlockSize; i++)
        {
            float d = Fp16.ToFloat(BinaryPrimitives.ReadUInt16LittleEndian(x.Slice(i * BlockBytes)));
            for (int j = 0; j < BlockSize / 2; j++)
            {
                byte b = x[i * BlockBytes + 2 + j];
                y[i * BlockSize + j] = ((b & 0x0F) - 8) * d;
                y[i * BlockSize + j + BlockSize / 2] = ((b >> 4) - 8) * d;
            }
        }
    }
}
