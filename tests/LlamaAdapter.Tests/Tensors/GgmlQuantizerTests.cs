using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tensors;

namespace LlamaAdapter.Tests.Tensors;

/// <summary>Every type ggml quantizes, through our row API: same bytes as one direct ggml_quantize_chunk call,
/// and a bounded quantize-dequantize error.</summary>
public class GgmlQuantizerTests
{
    private const int RowLength = 1024; // a multiple of 256, as the K, IQ and TQ types need

    /// <summary>16 rows, but 4 for the IQ1/IQ2/IQ3 types whose codebook searches are slow (tens of ms per row).</summary>
    private static int RowsFor(GgmlType type) => type.ToString().StartsWith("IQ", StringComparison.Ordinal) && type is not (GgmlType.IQ4_NL or GgmlType.IQ4_XS) ? 4 : 16;

    public static TheoryData<GgmlType> QuantizableTypes() =>
        new(GgmlTypeTraits.All.Where(GgmlQuantizer.CanQuantize).Order());

    /// <summary>Uniform importance weights when a type must have some: ggml's IQ2_XXS/IQ2_XS/IQ1_S refuse to run without.</summary>
    private static float[]? ImportanceFor(GgmlType type) =>
        GgmlQuantizer.RequiresImportance(type) ? Enumerable.Repeat(1f, RowLength).ToArray() : null;

    [Theory]
    [MemberData(nameof(QuantizableTypes))]
    public void RowApi_MatchesDirectNativeCall(GgmlType type)
    {
        int Rows = RowsFor(type);
        var x = TestTensors.Make("weight_like", Rows, RowLength);
        var importance = ImportanceFor(type);
        var expected = GgmlReference.Quantize(type, x, Rows, RowLength, importance);
        var actual = new byte[expected.Length];
        GgmlQuantizer.Quantize(type, x, actual, Rows, RowLength, importance);
        GgmlReference.AssertBytesEqual(expected, actual, $"{type}", GgmlTypeTraits.Layout(type).TypeSize);

        if (!GgmlQuantizer.CanDequantize(type)) return;
        var back = new float[x.Length];
        GgmlQuantizer.Dequantize(type, actual, back, Rows, RowLength);
        GgmlReference.AssertBitsEqual(GgmlReference.ToFloat(type, expected, Rows, RowLength), back, $"{type} to_float");
    }

    [Theory]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q6_K)]
    [InlineData(GgmlType.IQ4_XS)]
    public void RowApi_InParallelChunks_MatchesOneNativeCall(GgmlType type)
    {
        const int rows = 256, rowLength = 4096; // 1M values: four parallel chunks of 64 rows
        var x = TestTensors.Make("gaussian", rows, rowLength);
        var expected = GgmlReference.Quantize(type, x, rows, rowLength);
        var actual = new byte[expected.Length];
        GgmlQuantizer.Quantize(type, x, actual, rows, rowLength, maxDegreeOfParallelism: 4);
        GgmlReference.AssertBytesEqual(expected, actual, $"{type} parallel", GgmlTypeTraits.Layout(type).TypeSize);
    }

    [Theory]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    public void ManagedAndNativeRowApis_Agree(GgmlType type)
    {
        const int Rows = 16;
        var x = TestTensors.Make("gaussian", Rows, RowLength);
        var native = new byte[Quantizer.TensorBytes(type, Rows, RowLength)];
        var managed = new byte[native.Length];
        GgmlQuantizer.Quantize(type, x, native, Rows, RowLength);
        Quantizer.Quantize(type, x, managed, Rows, RowLength);
        Assert.Equal(native, managed);
    }

    /// <summary>
    /// Bounds on RMSE(dequantize(quantize(x)) - x) / RMS(x) for N(0, 1) rows of 1024 (16 rows; 4 for IQ1..IQ3), without an importance matrix
    /// (uniform weights where one is required). The measured value (ggml v0.5.0's CPU reference code, this data) is
    /// in each comment; the bounds leave about 10% of headroom, so a wrong block layout, row offset or scale fails
    /// by a wide margin. The ternary TQ types are measured on ternary data {-a, 0, a}, which they store exactly but
    /// for the fp16 rounding of the scale (on gaussian data their error is 0.82 by design).
    /// </summary>
    public static TheoryData<GgmlType, double> ErrorBounds() => new()
    {
        { GgmlType.F16, 0.00025 },   // 0.00021
        { GgmlType.BF16, 0.0019 },   // 0.00164
        { GgmlType.Q8_0, 0.0060 },   // 0.00542
        { GgmlType.Q6_K, 0.0195 },   // 0.01767
        { GgmlType.Q5_K, 0.040 },    // 0.03618
        { GgmlType.Q5_1, 0.042 },    // 0.03782
        { GgmlType.Q5_0, 0.048 },    // 0.04297
        { GgmlType.Q4_K, 0.079 },    // 0.07132
        { GgmlType.IQ4_NL, 0.085 },  // 0.07668
        { GgmlType.IQ4_XS, 0.086 },  // 0.07736
        { GgmlType.Q4_1, 0.087 },    // 0.07813
        { GgmlType.Q4_0, 0.095 },    // 0.08562
        { GgmlType.MXFP4, 0.128 },   // 0.11562
        { GgmlType.Q3_K, 0.167 },    // 0.15111
        { GgmlType.IQ3_S, 0.185 },   // 0.16785
        { GgmlType.IQ3_XXS, 0.233 }, // 0.21326
        { GgmlType.IQ2_S, 0.292 },   // 0.26048
        { GgmlType.Q2_K, 0.329 },    // 0.29878
        { GgmlType.IQ2_XS, 0.332 },  // 0.30052
        { GgmlType.IQ2_XXS, 0.377 }, // 0.34338
        { GgmlType.IQ1_S, 0.536 },   // 0.48109
        { GgmlType.IQ1_M, 0.634 },   // 0.56584
        { GgmlType.TQ1_0, 0.001 },   // ternary data
        { GgmlType.TQ2_0, 0.001 },   // ternary data
    };

    [Theory]
    [MemberData(nameof(ErrorBounds))]
    public void QuantizeDequantize_ErrorIsBounded(GgmlType type, double bound)
    {
        int Rows = RowsFor(type);
        var x = TestTensors.Make(type is GgmlType.TQ1_0 or GgmlType.TQ2_0 ? "ternary" : "gaussian", Rows, RowLength);
        var q = new byte[Quantizer.TensorBytes(type, Rows, RowLength)];
        GgmlQuantizer.Quantize(type, x, q, Rows, RowLength, ImportanceFor(type));
        var y = new float[x.Length];
        GgmlQuantizer.Dequantize(type, q, y, Rows, RowLength);
        double err = 0, norm = 0;
        for (int i = 0; i < x.Length; i++) { err += (y[i] - x[i]) * (double)(y[i] - x[i]); norm += x[i] * (double)x[i]; }
        double relRmse = Math.Sqrt(err / norm);
        Console.WriteLine($"{type}: relative RMSE {relRmse:F5} (bound {bound})");
        Assert.True(relRmse < bound, $"{type}: relative RMSE {relRmse:F5} exceeds {bound}");
    }

    [Fact]
    public void EveryQuantizableType_HasAnErrorBound()
    {
        var bounded = ErrorBounds().Select(r => (GgmlType)r[0]).ToHashSet();
        var unbounded = GgmlTypeTraits.All.Where(t => GgmlQuantizer.CanQuantize(t) && t != GgmlType.F32 && !bounded.Contains(t)).ToList();
        Assert.True(unbounded.Count == 0, $"no error bound for {string.Join(", ", unbounded)}");
    }
}
