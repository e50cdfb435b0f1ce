using System.Runtime.InteropServices;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tensors;

namespace LlamaAdapter.Tests.Tensors;

/// <summary>Our F16 / BF16 / Q8_0 / Q4_0 code against ggml's, byte for byte and bit for bit.</summary>
public class ManagedQuantizerTests
{
    public static TheoryData<GgmlType, string> QuantizeCases()
    {
        var data = new TheoryData<GgmlType, string>();
        foreach (var kind in TestTensors.FiniteKinds.Concat(TestTensors.NonFiniteKinds))
        {
            data.Add(GgmlType.F16, kind);
            data.Add(GgmlType.BF16, kind);
            data.Add(GgmlType.F32, kind);
        }
        foreach (var kind in TestTensors.FiniteKinds)
        {
            data.Add(GgmlType.Q8_0, kind);
            data.Add(GgmlType.Q4_0, kind);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(QuantizeCases))]
    public void Quantize_MatchesGgmlQuantizeChunk(GgmlType type, string kind)
    {
        var x = TestTensors.Make(kind);
        var expected = GgmlReference.Quantize(type, x, TestTensors.Rows, TestTensors.RowLength);
        var actual = new byte[expected.Length];
        Quantizer.Quantize(type, x, actual, TestTensors.Rows, TestTensors.RowLength);
        GgmlReference.AssertBytesEqual(expected, actual, $"{type} {kind}", GgmlTypeTraits.Layout(type).TypeSize);
    }

    [Theory]
    [MemberData(nameof(QuantizeCases))]
    public void Dequantize_MatchesGgmlToFloat(GgmlType type, string kind)
    {
        if (type == GgmlType.F32) return; // ggml's F32 traits have no to_float; F32 is a copy
        var q = GgmlReference.Quantize(type, TestTensors.Make(kind), TestTensors.Rows, TestTensors.RowLength);
        var expected = GgmlReference.ToFloat(type, q, TestTensors.Rows, TestTensors.RowLength);
        var actual = new float[expected.Length];
        Quantizer.Dequantize(type, q, actual, TestTensors.Rows, TestTensors.RowLength);
        GgmlReference.AssertBitsEqual(expected, actual, $"{type} {kind}");
    }

    [Theory]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    public void Dequantize_RandomBytes_MatchesGgml(GgmlType type)
    {
        // Every byte pattern is a valid encoding, including fp16 scales that are NaN, infinite or subnormal.
        const int rows = 64, rowLength = 256;
        var q = new byte[Quantizer.TensorBytes(type, rows, rowLength)];
        new Random(7).NextBytes(q);
        var expected = GgmlReference.ToFloat(type, q, rows, rowLength);
        var actual = new float[expected.Length];
        Quantizer.Dequantize(type, q, actual, rows, rowLength);
        GgmlReference.AssertBitsEqual(expected, actual, $"{type} random bytes");
    }

    [Fact]
    public void EveryQ8_0DequantizePath_MatchesGgml()
    {
        // Only one path runs by dispatch on a given machine; each is checked here where the hardware allows.
        const int n = 64 * 256;
        var q = new byte[Quantizer.TensorBytes(GgmlType.Q8_0, 1, n)];
        new Random(11).NextBytes(q);
        var expected = GgmlReference.ToFloat(GgmlType.Q8_0, q, 1, n);
        var y = new float[n];
        Q8_0.DequantizeRowScalar(q, y);
        GgmlReference.AssertBitsEqual(expected, y, "Q8_0 scalar");
        if (System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated)
        {
            Array.Clear(y);
            Q8_0.DequantizeRowVector256(q, y);
            GgmlReference.AssertBitsEqual(expected, y, "Q8_0 Vector256");
        }
        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported)
        {
            Array.Clear(y);
            Q8_0.DequantizeRowAvx2(q, y);
            GgmlReference.AssertBitsEqual(expected, y, "Q8_0 AVX2");
        }
    }

    [Theory]
    [MemberData(nameof(TestTensors.Finite), MemberType = typeof(TestTensors))]
    public void ScalarPaths_MatchGgml(string kind)
    {
        // The scalar code runs where Vector256 is not accelerated; here it is checked against ggml directly.
        var x = TestTensors.Make(kind);
        int n = x.Length;
        var q8 = GgmlReference.Quantize(GgmlType.Q8_0, x, 1, n);
        var q4 = GgmlReference.Quantize(GgmlType.Q4_0, x, 1, n);
        var ours8 = new byte[q8.Length];
        var ours4 = new byte[q4.Length];
        Assert.Equal(-1, Q8_0.QuantizeRowScalar(x, ours8));
        Assert.Equal(-1, Q4_0.QuantizeRowScalar(x, ours4));
        GgmlReference.AssertBytesEqual(q8, ours8, $"scalar Q8_0 {kind}", Q8_0.BlockBytes);
        GgmlReference.AssertBytesEqual(q4, ours4, $"scalar Q4_0 {kind}", Q4_0.BlockBytes);

        var y = new float[n];
        Q8_0.DequantizeRowScalar(q8, y);
        GgmlReference.AssertBitsEqual(GgmlReference.ToFloat(GgmlType.Q8_0, q8, 1, n), y, $"scalar Q8_0 dequantize {kind}");
        Q4_0.DequantizeRowScalar(q4, y);
        GgmlReference.AssertBitsEqual(GgmlReference.ToFloat(GgmlType.Q4_0, q4, 1, n), y, $"scalar Q4_0 dequantize {kind}");
    }

    [Fact]
    public void HalfAndBfloat16_EveryEncoding_WidensAsGgml()
    {
        var all = new ushort[65536];
        for (int i = 0; i < all.Length; i++) all[i] = (ushort)i;
        var bytes = MemoryMarshal.AsBytes(all.AsSpan()).ToArray();
        foreach (var type in new[] { GgmlType.F16, GgmlType.BF16 })
        {
            var expected = GgmlReference.ToFloat(type, bytes, 1, all.Length);
            var actual = new float[all.Length];
            Quantizer.Dequantize(type, bytes, actual, 1, all.Length);
            GgmlReference.AssertBitsEqual(expected, actual, $"{type} all encodings");
            for (int i = 0; i < all.Length; i++) // the scalar conversions too
                actual[i] = type == GgmlType.F16 ? Fp16.ToFloat(all[i]) : Bf16.ToFloat(all[i]);
            GgmlReference.AssertBitsEqual(expected, actual, $"{type} all encodings, scalar");
        }
    }

    [Theory]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    public void FloatBitPatternSweep_NarrowsAsGgml(GgmlType type)
    {
        // Every 1021st float bit pattern (4.2M values: all exponents, both signs, NaNs, subnormals) plus,
        // around each pattern, the neighbours one ulp away, through the vector and the scalar paths.
        const long stride = 1021;
        var x = new float[(int)((1L << 32) / stride) / 16 * 16];
        for (int i = 0; i < x.Length; i++)
            x[i] = BitConverter.UInt32BitsToSingle((uint)(i * stride + (i % 3) - 1));
        var expected = GgmlReference.Quantize(type, x, 1, x.Length);
        var actual = new byte[expected.Length];
        Quantizer.Quantize(type, x, actual, 1, x.Length);
        GgmlReference.AssertBytesEqual(expected, actual, $"{type} sweep", 2);
        var halves = MemoryMarshal.Cast<byte, ushort>(expected.AsSpan());
        for (int i = 0; i < x.Length; i++)
        {
            ushort scalar = type == GgmlType.F16 ? Fp16.FromFloat(x[i]) : Bf16.FromFloat(x[i]);
            if (scalar != halves[i]) Assert.Fail($"{type} scalar of 0x{BitConverter.SingleToUInt32Bits(x[i]):X8} is 0x{scalar:X4}, ggml 0x{halves[i]:X4}");
        }
    }

    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.F16)]
    public void LargeTensor_InParallel_MatchesGgml(GgmlType type)
    {
        const int rows = 320, rowLength = 4096; // 1.3M values: several parallel chunks
        var x = TestTensors.Make("weight_like", rows, rowLength);
        var expected = GgmlReference.Quantize(type, x, rows, rowLength);
        var actual = new byte[expected.Length];
        Quantizer.Quantize(type, x, actual, rows, rowLength, maxDegreeOfParallelism: 4);
        GgmlReference.AssertBytesEqual(expected, actual, $"{type} parallel", GgmlTypeTraits.Layout(type).TypeSize);

        var back = new float[x.Length];
        Quantizer.Dequantize(type, actual, back, rows, rowLength, maxDegreeOfParallelism: 4);
        GgmlReference.AssertBitsEqual(GgmlReference.ToFloat(type, expected, rows, rowLength), back, $"{type} parallel dequantize");
    }
}
