using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LlamaAdapter.Core.Tensors;

/// <summary>
/// bfloat16 conversions as ggml's ggml_compute_fp32_to_bf16 / ggml_compute_bf16_to_fp32: the top 16 bits of the
/// float, rounded to nearest even; a NaN keeps its sign and top payload bits and is forced quiet (bit 6).
/// </summary>
public static class Bf16
{
    public static ushort FromFloat(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (ushort)((u >> 16) | 64);
        return (ushort)((u + (0x7FFFu + ((u >> 16) & 1))) >> 16);
    }

    public static float ToFloat(ushort h) => BitConverter.UInt32BitsToSingle((uint)h << 16);

    public static void FromFloat(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException($"dst holds {dst.Length} bfloat16s; {src.Length} needed", nameof(dst));
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref uint s = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(src));
            ref ushort d = ref MemoryMarshal.GetReference(dst);
            for (; i <= src.Length - 16; i += 16)
            {
                var lo = FromFloat(Vector256.LoadUnsafe(ref s, (nuint)i));
                var hi = FromFloat(Vector256.LoadUnsafe(ref s, (nuint)i + 8));
                Vector256.Narrow(lo, hi).StoreUnsafe(ref d, (nuint)i);
            }
        }
        for (; i < src.Length; i++) dst[i] = FromFloat(src[i]);
    }

    public static void ToFloat(ReadOnlySpan<ushort> src, Span<float> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException($"dst holds {dst.Length} floats; {src.Length} needed", nameof(dst));
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref ushort s = ref MemoryMarshal.GetReference(src);
            ref uint d = ref Unsafe.As<float, uint>(ref MemoryMarshal.GetReference(dst));
            for (; i <= src.Length - 16; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref s, (nuint)i));
                (lo << 16).StoreUnsafe(ref d, (nuint)i);
                (hi << 16).StoreUnsafe(ref d, (nuint)i + 8);
            }
        }
        for (; i < src.Length; i++) dst[i] = ToFloat(src[i]);
    }

    /// <summary>Eight float bit patterns to eight bfloat16s, each in the low 16 bits of its lane.</summary>
    private static Vector256<uint> FromFloat(Vector256<uint> u)
    {
        var isNan = Vector256.GreaterThan(u & Vector256.Create(0x7FFFFFFFu), Vector256.Create(0x7F800000u));
        var quietNan = (u >> 16) | Vector256.Create(64u);
        var rounded = (u + Vector256.Create(0x7FFFu) + ((u >> 16) & Vector256<uint>.One)) >> 16;
        return Vector256.ConditionalSelect(isNan, quietNan, rounded);
    }
}
