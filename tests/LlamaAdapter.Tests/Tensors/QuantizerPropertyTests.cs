using CsCheck;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tensors;

namespace LlamaAdapter.Tests.Tensors;

/// <summary>CsCheck properties: for generated tensors our conversions equal ggml's, and the round trips keep
/// their documented error.</summary>
public class QuantizerPropertyTests
{
    /// <summary>Finite floats of every scale: uniform in a range per tensor, with CsCheck's special values mixed in.</summary>
    private static readonly Gen<float> FiniteFloat = Gen.Frequency(
        (6, Gen.Float[-1f, 1f]),
        (2, Gen.Float[-1e6f, 1e6f]),
        (1, Gen.Float[-1e-30f, 1e-30f]),
        (1, Gen.Float.Special.Where(float.IsFinite)));

    private static Gen<(float[] X, int Rows, int RowLength)> Tensor(Gen<float> value) =>
        from rows in Gen.Int[1, 4]
        from blocks in Gen.Int[1, 6]
        from x in value.Array[rows * blocks * 32]
        select (x, rows, blocks * 32);

    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    public void BlockQuantization_EqualsGgml(GgmlType type) =>
        Tensor(FiniteFloat).Sample(t =>
        {
            var expected = GgmlReference.Quantize(type, t.X, t.Rows, t.RowLength);
            var actual = new byte[expected.Length];
            Quantizer.Quantize(type, t.X, actual, t.Rows, t.RowLength);
            Assert.Equal(expected, actual);
        }, iter: 500);

    [Theory]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    public void HalfPrecision_EqualsGgml_OnAnyFloat(GgmlType type) =>
        Tensor(Gen.Frequency((1, Gen.Float), (1, Gen.Float.Special), (1, Gen.UInt.Select(BitConverter.UInt32BitsToSingle)))).Sample(t =>
        {
            var expected = GgmlReference.Quantize(type, t.X, t.Rows, t.RowLength);
            var actual = new byte[expected.Length];
            Quantizer.Quantize(type, t.X, actual, t.Rows, t.RowLength);
            Assert.Equal(expected, actual);
        }, iter: 500);

    [Fact]
    public void Q8_0_RoundTrip_IsWithinHalfAStepPlusScaleRounding() =>
        // q = round(x / d) with d = amax / 127, then y = q * fp16(d): |x - y| <= d / 2 + 127 * |d - fp16(d)|.
        Tensor(Gen.Float[-100f, 100f]).Sample(t =>
        {
            var q = new byte[Quantizer.TensorBytes(GgmlType.Q8_0, t.Rows, t.RowLength)];
            var y = new float[t.X.Length];
            Quantizer.Quantize(GgmlType.Q8_0, t.X, q, t.Rows, t.RowLength);
            Quantizer.Dequantize(GgmlType.Q8_0, q, y, t.Rows, t.RowLength);
            for (int b = 0; b < t.X.Length / 32; b++)
            {
                var xb = t.X.AsSpan(b * 32, 32);
                float amax = 0;
                foreach (float v in xb) amax = MathF.Max(amax, MathF.Abs(v));
                float d = amax / 127f, d16 = Fp16.ToFloat(Fp16.FromFloat(d));
                double bound = d / 2.0 + 127.0 * Math.Abs(d - d16) + 1e-6 * amax;
                for (int j = 0; j < 32; j++)
                    Assert.True(Math.Abs(xb[j] - y[b * 32 + j]) <= bound, $"block {b} value {j}: {xb[j]} -> {y[b * 32 + j]}, bound {bound}");
            }
        }, iter: 300);

    [Fact]
    public void Fp16_NarrowsToTheNearestHalf() =>
        Gen.Float[-65504f, 65504f].Sample(x => // the finite halves' range: beyond 65520 IEEE rounds to infinity
        {
            ushort h = Fp16.FromFloat(x);
            Assert.Equal(h, Fp16.FromFloat(Fp16.ToFloat(h)));
            // no other half is closer to x (ties go to the even one, also at distance d)
            double d = Math.Abs((double)Fp16.ToFloat(h) - x);
            foreach (int n in new[] { h - 1, h + 1 })
            {
                if (n is < 0 or > 0xFFFF) continue;
                float other = Fp16.ToFloat((ushort)n);
                if (float.IsFinite(other) && (n & 0x7FFF) <= 0x7BFF && Math.Sign(other) == Math.Sign(Fp16.ToFloat(h)))
                    Assert.True(Math.Abs((double)other - x) >= d, $"{x}: 0x{h:X4} is not the nearest half");
            }
        }, iter: 20000);

    [Fact]
    public void EveryNonNanHalfAndBfloat16_RoundTripsThroughFloat()
    {
        for (int i = 0; i < 65536; i++)
        {
            ushort h = (ushort)i;
            if ((h & 0x7C00) != 0x7C00 || (h & 0x03FF) == 0) Assert.Equal(h, Fp16.FromFloat(Fp16.ToFloat(h)));
            if ((h & 0x7F80) != 0x7F80 || (h & 0x007F) == 0) Assert.Equal(h, Bf16.FromFloat(Bf16.ToFloat(h)));
        }
    }
}
