using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LlamaAdapter.Core.Tensors;

/// <summary>Rounding and widening steps shared by the block formats.</summary>
internal static class Quant
{
    /// <summary>C's roundf: nearest integer, halves away from zero. The fraction x - trunc(x) is exact, so
    /// comparing it with 0.5 avoids the double rounding of trunc(x + 0.5).</summary>
    public static float RoundAwayFromZero(float x)
    {
        float t = MathF.Truncate(x);
        return MathF.Abs(x - t) >= 0.5f ? t + MathF.CopySign(1f, x) : t;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> RoundToInt(Vector256<float> x)
    {
        var t = Vector256.Truncate(x);
        var away = Vector256.GreaterThanOrEqual(Vector256.Abs(x - t), Vector256.Create(0.5f));
        var one = ((x.AsUInt32() & Vector256.Create(0x80000000u)) | Vector256.Create(0x3F800000u)).AsSingle(); // ±1 with x's sign
        return Vector256.ConvertToInt32Native(t + (one & away));
    }

    /// <summary>C's float to int8 conversion as ggml's x86-64 build does it: cvttss2si, then the low byte. Only
    /// reachable out of range when 1/d overflowed (a block of magnitudes below ~1e-36, whose fp16 d is 0 anyway);
    /// there x86 gives the "integer indefinite" 0x80000000, whose low byte is 0.</summary>
    public static sbyte ToInt8(float x) => (sbyte)float.ConvertToIntegerNative<int>(x);

    /// <summary>The vector <see cref="ToInt8"/>, sign-extended back to int lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> ToInt8(Vector256<float> x) => (Vector256.ConvertToInt32Native(x) << 24) >> 24;

    /// <summary>y[o..o+32) = q * d for 32 signed quants.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreScaled(Vector256<sbyte> q, Vector256<float> d, ref float y, nuint o)
    {
        var (s0, s1) = Vector256.Widen(q);
        var (i0, i1) = Vector256.Widen(s0);
        var (i2, i3) = Vector256.Widen(s1);
        (Vector256.ConvertToSingle(i0) * d).StoreUnsafe(ref y, o);
        (Vector256.ConvertToSingle(i1) * d).StoreUnsafe(ref y, o + 8);
        (Vector256.ConvertToSingle(i2) * d).StoreUnsafe(ref y, o + 16);
        (Vector256.ConvertToSingle(i3) * d).StoreUnsafe(ref y, o + 24);
    }
}
