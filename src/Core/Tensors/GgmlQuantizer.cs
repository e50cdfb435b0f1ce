using System.Runtime.InteropServices;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Core.Tensors;

/// <summary>
/// Row-wise quantization to every type ggml_quantize_chunk knows (Q4_1, Q5_0, Q5_1, the K-quants, the IQ and TQ
/// types, MXFP4 ... as well as those <see cref="Quantizer"/> does in managed code) and dequantization through ggml's
/// type traits. ggml aborts the process on a bad shape or a missing importance matrix, so every size, type and
/// value is checked here before the native call.
/// </summary>
public static class GgmlQuantizer
{
    /// <summary>The cases of ggml_quantize_chunk's switch (ggml.c); any other type aborts there.</summary>
    private static readonly HashSet<GgmlType> Quantizable =
    [
        GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
        GgmlType.MXFP4, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.TQ1_0, GgmlType.TQ2_0,
        GgmlType.IQ2_XXS, GgmlType.IQ2_XS, GgmlType.IQ3_XXS, GgmlType.IQ3_S, GgmlType.IQ2_S, GgmlType.IQ1_S, GgmlType.IQ1_M,
        GgmlType.IQ4_NL, GgmlType.IQ4_XS,
    ];

    public static bool CanQuantize(GgmlType type) => Quantizable.Contains(type);

    /// <summary>Whether ggml refuses to quantize <paramref name="type"/> without an importance matrix (IQ2_XXS, IQ2_XS, IQ1_S).</summary>
    public static bool RequiresImportance(GgmlType type)
    {
        RequireKnown(type);
        return GgmlApi.ggml_quantize_requires_imatrix(type);
    }

    /// <summary>Whether ggml's type traits have a to_float for <paramref name="type"/> (F32 and Q8_1 have none).</summary>
    public static unsafe bool CanDequantize(GgmlType type)
    {
        RequireKnown(type);
        return GgmlApi.ggml_get_type_traits(type)->ToFloat != null;
    }

    /// <summary>
    /// Quantizes src (rows x rowLength floats, row-major) to <paramref name="type"/> in dst with ggml_quantize_chunk.
    /// <paramref name="importance"/> is the per-column importance matrix (rowLength non-negative weights; empty for none).
    /// </summary>
    /// <exception cref="NonFiniteValueException">a NaN or infinity where <paramref name="type"/> is quantized.</exception>
    public static unsafe void Quantize(GgmlType type, ReadOnlySpan<float> src, Span<byte> dst, long rows, long rowLength,
                                       ReadOnlySpan<float> importance = default, int maxDegreeOfParallelism = -1)
    {
        RequireKnown(type);
        if (!CanQuantize(type))
            throw new ArgumentException($"ggml cannot quantize to {type}; it can to {string.Join(", ", Quantizable.Order())}", nameof(type));
        long rowBytes = TensorRows.Check(type, src.Length, dst.Length, rows, rowLength, nameof(src), nameof(dst));
        if (importance.IsEmpty && GgmlApi.ggml_quantize_requires_imatrix(type))
            throw new ArgumentException($"{type} needs an importance matrix (imatrix) of {rowLength} weights, one per column; none was given",
                                        nameof(importance));
        if (!importance.IsEmpty) CheckImportance(importance, rowLength);
        if (GgmlApi.ggml_is_quantized(type)) RequireFinite(type, src, rowLength);

        GgmlApi.ggml_quantize_init(type); // builds the IQ grids once, under ggml's own lock, before threads share them
        fixed (float* ps = src)
        fixed (byte* pd = dst)
        fixed (float* pi = importance)
        {
            nint s = (nint)ps, d = (nint)pd, im = (nint)pi;
            TensorRows.For(rows, rowLength, maxDegreeOfParallelism, (first, count) =>
            {
                nuint written = GgmlApi.ggml_quantize_chunk(type, (float*)s, (void*)d, first * rowLength, count, rowLength, (float*)im);
                if ((long)written != count * rowBytes)
                    throw new GgmlException($"ggml_quantize_chunk({type}) wrote {written} bytes for {count} rows; expected {count * rowBytes}");
            });
        }
    }

    /// <summary>Converts src (rows x rowLength values of <paramref name="type"/>) to floats with ggml's to_float.</summary>
    public static unsafe void Dequantize(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst, long rows, long rowLength,
                                         int maxDegreeOfParallelism = -1)
    {
        RequireKnown(type);
        var toFloat = GgmlApi.ggml_get_type_traits(type)->ToFloat;
        if (toFloat == null) throw new ArgumentException($"ggml has no to_float for {type}", nameof(type));
        long rowBytes = TensorRows.Check(type, dst.Length, src.Length, rows, rowLength, nameof(dst), nameof(src));
        fixed (byte* ps = src)
        fixed (float* pd = dst)
        {
            nint s = (nint)ps, d = (nint)pd;
            TensorRows.For(rows, rowLength, maxDegreeOfParallelism, (first, count) =>
                toFloat((byte*)s + first * rowBytes, (float*)d + first * rowLength, count * rowLength));
        }
    }

    private static void CheckImportance(ReadOnlySpan<float> importance, long rowLength)
    {
        if (importance.Length != rowLength)
            throw new ArgumentException($"importance holds {importance.Length} weights; a row of {rowLength} needs exactly {rowLength}", nameof(importance));
        for (int i = 0; i < importance.Length; i++)
            if (!float.IsFinite(importance[i]) || importance[i] < 0)
                throw new ArgumentException($"importance[{i}] is {importance[i]}; weights must be finite and >= 0", nameof(importance));
    }

    private static void RequireFinite(GgmlType type, ReadOnlySpan<float> src, long rowLength)
    {
        int i = src.IndexOfAnyExceptInRange(float.MinValue, float.MaxValue); // NaN is outside every range
        if (i >= 0) throw new NonFiniteValueException(type, i / rowLength, i % rowLength, src[i]);
    }

    private static void RequireKnown(GgmlType type)
    {
        if (!GgmlTypeTraits.IsKnown(type)) throw new ArgumentException($"unknown ggml tensor type {(int)type}", nameof(type));
    }
}
