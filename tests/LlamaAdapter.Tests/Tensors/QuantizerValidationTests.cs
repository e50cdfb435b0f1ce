using LlamaAdapter.Core;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tensors;

namespace LlamaAdapter.Tests.Tensors;

/// <summary>Bad shapes, sizes, types and values are refused with a message naming them, before ggml sees them
/// (had any reached ggml, it would have aborted this test process).</summary>
public class QuantizerValidationTests
{
    public static TheoryData<string> Apis() => new(["managed", "ggml"]);

    private static void Quantize(string api, GgmlType type, float[] src, byte[] dst, long rows, long rowLength, float[]? importance = null)
    {
        if (api == "managed") Quantizer.Quantize(type, src, dst, rows, rowLength);
        else GgmlQuantizer.Quantize(type, src, dst, rows, rowLength, importance);
    }

    private static void Dequantize(string api, GgmlType type, byte[] src, float[] dst, long rows, long rowLength)
    {
        if (api == "managed") Quantizer.Dequantize(type, src, dst, rows, rowLength);
        else GgmlQuantizer.Dequantize(type, src, dst, rows, rowLength);
    }

    [Theory]
    [MemberData(nameof(Apis))]
    public void RowLengthNotAWholeNumberOfBlocks_IsRefused(string api)
    {
        var e = Assert.Throws<ArgumentException>(() => Quantize(api, GgmlType.Q8_0, new float[2 * 48], new byte[200], 2, 48));
        Assert.Contains("rowLength 48 is not a multiple of Q8_0's block size 32", e.Message);
        Assert.Equal("rowLength", e.ParamName);
    }

    [Fact]
    public void KQuantRowOf32_IsRefused()
    {
        var e = Assert.Throws<ArgumentException>(() => GgmlQuantizer.Quantize(GgmlType.Q4_K, new float[64], new byte[144], 2, 32));
        Assert.Contains("block size 256", e.Message);
    }

    [Theory]
    [MemberData(nameof(Apis))]
    public void WrongBufferSizes_AreRefused(string api)
    {
        var src = new float[2 * 64];
        var e = Assert.Throws<ArgumentException>(() => Quantize(api, GgmlType.Q4_0, src, new byte[71], 2, 64));
        Assert.Contains("dst holds 71 bytes; 2 rows of 64 Q4_0 values need exactly 72", e.Message);
        e = Assert.Throws<ArgumentException>(() => Quantize(api, GgmlType.Q4_0, new float[127], new byte[72], 2, 64));
        Assert.Contains("src holds 127 floats; 2 rows of 64 need exactly 128", e.Message);
        e = Assert.Throws<ArgumentException>(() => Dequantize(api, GgmlType.Q8_0, new byte[135], new float[128], 2, 64));
        Assert.Contains("src holds 135 bytes", e.Message);
        e = Assert.Throws<ArgumentException>(() => Dequantize(api, GgmlType.F16, new byte[256], new float[129], 2, 64));
        Assert.Contains("dst holds 129 floats", e.Message);
    }

    [Theory]
    [MemberData(nameof(Apis))]
    public void BadCounts_AreRefused(string api)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Quantize(api, GgmlType.F16, [], [], -1, 32));
        Assert.Throws<ArgumentOutOfRangeException>(() => Quantize(api, GgmlType.F16, [], [], 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Quantize(api, GgmlType.Q8_0, [], [], long.MaxValue / 16, 32));
        Assert.Throws<ArgumentException>(() => Quantize(api, (GgmlType)999, new float[32], new byte[34], 1, 32));
        Quantize(api, GgmlType.Q8_0, [], [], 0, 32); // no rows: nothing to do
    }

    [Theory]
    [MemberData(nameof(Apis))]
    public void NonFiniteValues_AreRefusedForBlockTypes_WithRowAndColumn(string api)
    {
        foreach (var type in new[] { GgmlType.Q8_0, GgmlType.Q4_0 })
            foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
            {
                var x = TestTensors.Make("gaussian", 4, 64);
                x[2 * 64 + 37] = bad;
                var e = Assert.Throws<NonFiniteValueException>(() => Quantize(api, type, x, new byte[Quantizer.TensorBytes(type, 4, 64)], 4, 64));
                Assert.IsAssignableFrom<BadInputException>(e);
                Assert.Equal((2L, 37L), (e.Row, e.Column));
                Assert.Contains($"row 2, column 37 holds {bad}; {type} quantization needs finite values", e.Message);
            }
    }

    [Fact]
    public void NonFiniteValue_InAParallelTensor_IsReportedAtItsRow()
    {
        const int rows = 300, rowLength = 4096;
        var x = new float[rows * rowLength];
        x[250L * rowLength + 5] = float.NaN;
        x[290L * rowLength + 9] = float.PositiveInfinity;
        var e = Assert.Throws<NonFiniteValueException>(() =>
            Quantizer.Quantize(GgmlType.Q8_0, x, new byte[Quantizer.TensorBytes(GgmlType.Q8_0, rows, rowLength)], rows, rowLength, 4));
        Assert.Equal(250, e.Row);
    }

    [Fact]
    public void Types_WithoutAManagedPath_PointToGgmlQuantizer()
    {
        var e = Assert.Throws<ArgumentException>(() => Quantizer.Quantize(GgmlType.Q4_K, new float[256], new byte[144], 1, 256));
        Assert.Contains("use GgmlQuantizer", e.Message);
        Assert.Throws<ArgumentException>(() => Quantizer.Dequantize(GgmlType.Q6_K, new byte[210], new float[256], 1, 256));
    }

    [Theory]
    [InlineData(GgmlType.Q8_1)] // ggml_quantize_chunk has no case for these: it would abort
    [InlineData(GgmlType.Q8_K)]
    [InlineData(GgmlType.I32)]
    public void TypesGgmlCannotQuantize_AreRefused(GgmlType type)
    {
        var layout = GgmlTypeTraits.Layout(type);
        var e = Assert.Throws<ArgumentException>(() =>
            GgmlQuantizer.Quantize(type, new float[layout.BlockSize], new byte[layout.TypeSize], 1, layout.BlockSize));
        Assert.Contains($"ggml cannot quantize to {type}", e.Message);
    }

    [Theory]
    [InlineData(GgmlType.IQ2_XXS)]
    [InlineData(GgmlType.IQ2_XS)]
    [InlineData(GgmlType.IQ1_S)]
    public void ImatrixTypes_WithoutImportance_AreRefused(GgmlType type)
    {
        Assert.True(GgmlQuantizer.RequiresImportance(type));
        var e = Assert.Throws<ArgumentException>(() =>
            GgmlQuantizer.Quantize(type, new float[256], new byte[GgmlTypeTraits.Layout(type).TypeSize], 1, 256));
        Assert.Contains($"{type} needs an importance matrix (imatrix) of 256 weights", e.Message);
    }

    [Fact]
    public void BadImportance_IsRefused()
    {
        var dst = new byte[GgmlTypeTraits.Layout(GgmlType.IQ2_XS).TypeSize];
        var e = Assert.Throws<ArgumentException>(() => GgmlQuantizer.Quantize(GgmlType.IQ2_XS, new float[256], dst, 1, 256, new float[255]));
        Assert.Contains("importance holds 255 weights; a row of 256 needs exactly 256", e.Message);
        var w = Enumerable.Repeat(1f, 256).ToArray();
        w[17] = -1;
        e = Assert.Throws<ArgumentException>(() => GgmlQuantizer.Quantize(GgmlType.IQ2_XS, new float[256], dst, 1, 256, w));
        Assert.Contains("importance[17] is -1", e.Message);
        w[17] = float.NaN;
        Assert.Throws<ArgumentException>(() => GgmlQuantizer.Quantize(GgmlType.IQ2_XS, new float[256], dst, 1, 256, w));
    }

    [Fact]
    public void TypesWithoutToFloat_AreRefusedForDequantize()
    {
        Assert.False(GgmlQuantizer.CanDequantize(GgmlType.F32));
        var e = Assert.Throws<ArgumentException>(() => GgmlQuantizer.Dequantize(GgmlType.F32, new byte[4], new float[1], 1, 1));
        Assert.Contains("no to_float for F32", e.Message);
    }

    [Fact]
    public void BadDegreeOfParallelism_IsRefused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Quantizer.Quantize(GgmlType.F16, new float[32], new byte[64], 1, 32, 0));
}
