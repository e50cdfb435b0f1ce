using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LlamaAdapter.Core.Tensors;

/// <summary>
/// IEEE binary16 conversions computed exactly as ggml-base does (ggml_compute_fp32_to_fp16 / _fp16_to_fp32,
/// the float-arithmetic formulation from FP16 by Maratyszcza): round to nearest even, subnormals kept, overflow to
/// infinity, and every NaN stored as the quiet 0x7E00 with its sign. The rounding happens in the float addition
/// below, so the vector path must do the same float operations in the same order as the scalar one.
/// </summary>
public static class Fp16
{
    private static readonly float ScaleToInf = BitConverter.UInt32BitsToSingle(0x77800000);  // 2^112
    private static readonly float ScaleToZero = BitConverter.UInt32BitsToSingle(0x08800000); // 2^-110
    private static readonly float ExpScale = BitConverter.UInt32BitsToSingle(0x07800000);    // 2^-112

    public static ushort FromFloat(float f)
    {
        float b = MathF.Abs(f) * ScaleToInf * ScaleToZero;  // (|f| * 2^112) * 2^-110: rounds overflow to inf
        uint w = BitConverter.SingleToUInt32Bits(f);
        uint shl1 = w + w;
        uint sign = w & 0x80000000u;
        uint bias = Math.Max(shl1 & 0xFF000000u, 0x71000000u);
        b = BitConverter.UInt32BitsToSingle((bias >> 1) + 0x07800000u) + b; // the add rounds the mantissa to 10 bits
        uint bits = BitConverter.SingleToUInt32Bits(b);
        uint nonsign = ((bits >> 13) & 0x7C00u) + (bits & 0x0FFFu);
        return (ushort)((sign >> 16) | (shl1 > 0xFF000000u ? 0x7E00u : nonsign));
    }

    public static float ToFloat(ushort h)
    {
        uint w = (uint)h << 16;
        uint sign = w & 0x80000000u;
        uint twoW = w + w;
        float normalized = BitConverter.UInt32BitsToSingle((twoW >> 4) + 0x70000000u) * ExpScale;
        float denormalized = BitConverter.UInt32BitsToSingle((twoW >> 17) | 0x3F000000u) - 0.5f;
        uint result = sign | (twoW < (1u << 27) ? BitConverter.SingleToUInt32Bits(denormalized)
                                                : BitConverter.SingleToUInt32Bits(normalized));
        return BitConverter.UInt32BitsToSingle(result);
    }

    public static void FromFloat(ReadOnlySpan<float> src, Span<ushort> dst)
    {
        if (dst.Length < src.Length) throw new ArgumentException($"dst holds {dst.Length} halves; {src.Length} needed", nameof(dst));
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float s = ref MemoryMarshal.GetReference(src);
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
            ref float d = ref MemoryMarshal.GetReference(dst);
            for (; i <= src.Length - 16; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref s, (nuint)i));
                ToFloat(lo).StoreUnsafe(ref d, (nuint)i);
                ToFloat(hi).StoreUnsafe(ref d, (nuint)i + 8);
            }
        }
        for (; i < src.Length; i++) dst[i] = ToFloat(src[i]);
    }

    /// <summary>Eight floats to eight halves, each in the low 16 bits of its lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<uint> FromFloat(Vector256<float> f)
    {
        var b = Vector256.Abs(f) * Vector256.Create(ScaleToInf) * Vector256.Create(ScaleToZero);
        var w = f.AsUInt32();
        var shl1 = w + w;
        var sign = w & Vector256.Create(0x80000000u);
        var bias = Vector256.Max(shl1 & Vector256.Create(0xFF000000u), Vector256.Create(0x71000000u));
        b = ((bias >> 1) + Vector256.Create(0x07800000u)).AsSingle() + b;
        var bits = b.AsUInt32();
        var nonsign = ((bits >> 13) & Vector256.Create(0x7C00u)) + (bits & Vector256.Create(0x0FFFu));
        var isNan = Vector256.GreaterThan(shl1, Vector256.Create(0xFF000000u));
        return (sign >> 16) | Vector256.ConditionalSelect(isNan, Vector256.Create(0x7E00u), nonsign);
    }

    /// <summary>Eight halves (low 16 bits of each lane) to eight floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> ToFloat(Vector256<uint> h)
    {
        var w = h << 16;
        var sign = w & Vector256.Create(0x80000000u);
        var twoW = w + w;
        var normalized = ((twoW >> 4) + Vector256.Create(0x70000000u)).AsSingle() * Vector256.Create(ExpScale);
        var denormalized = ((twoW >> 17) | Vector256.Create(0x3F000000u)).AsSingle() - Vector256.Create(0.5f);
        var isDenormal = Vector256.LessThan(twoW, Vector256.Create(1u << 27));
        return (sign | Vector256.ConditionalSelect(isDenormal, denormalized.AsUInt32(), normalized.AsUInt32())).AsSingle();
    }
}
