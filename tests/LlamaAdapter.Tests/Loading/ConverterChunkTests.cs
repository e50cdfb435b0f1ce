using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tensors;
using LlamaAdapter.Training.Loading;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Loading;

/// <summary>StoredTensorConverter with chunks smaller than a tensor, every path: same dtype, plain float conversion, managed and ggml dequantization.</summary>
public class ConverterChunkTests
{
    private const long Rows = 37, Cols = 64; // 37 rows: chunk boundaries never line up with the end

    public static TheoryData<GgmlType, ScalarType, long> Cases()
    {
        var d = new TheoryData<GgmlType, ScalarType, long>();
        foreach (var type in new[] { GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q5_0 })
            foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16, ScalarType.Float16 })
                foreach (long chunk in new long[] { 1, 300, 5000, 1 << 20 })
                    d.Add(type, dtype, chunk);
        return d;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public unsafe void AnyChunking_EqualsDequantizeThenTorchConvert(GgmlType type, ScalarType dtype, long chunkBytes)
    {
        using var scope = NewDisposeScope();
        var rng = new Random((int)type * 31 + (int)dtype);
        var values = Enumerable.Range(0, (int)(Rows * Cols)).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        byte[] stored = TinyLlamaFactory.Encode(values, type, Cols);
        // Reference: ggml's own to_float for every type (F32 has none: the values are the bytes), then torch's .to(dtype).
        var floats = new float[values.Length];
        if (type == GgmlType.F32) values.CopyTo(floats, 0);
        else GgmlQuantizer.Dequantize(type, stored, floats, Rows, Cols);
        var expected = tensor(floats, [Rows, Cols]).to(dtype);

        var t = new StoredTensor("w", type, [Rows, Cols], stored.Length);
        Tensor got;
        fixed (byte* p = stored) got = StoredTensorConverter.ToTorch(t, p, stored.Length, dtype, chunkBytes);
        Assert.Equal(dtype, got.dtype);
        Assert.Equal([Rows, Cols], got.shape);
        Assert.True(got.eq(expected).all().item<bool>());
    }

    private static unsafe Tensor WrongLength(byte[] b)
    {
        fixed (byte* p = b) return StoredTensorConverter.ToTorch(new StoredTensor("n", GgmlType.F32, [3], 12), p, 8, ScalarType.Float32);
    }

    [Fact]
    public unsafe void OneDimensionalAndEmptyTensors()
    {
        using var scope = NewDisposeScope();
        var v = new float[] { 1.5f, -2.25f, 3f };
        byte[] b = TinyLlamaFactory.Encode(v, GgmlType.F32);
        fixed (byte* p = b)
        {
            var t = StoredTensorConverter.ToTorch(new StoredTensor("n", GgmlType.F32, [3], 12), p, 12, ScalarType.BFloat16);
            Assert.Equal([3L], t.shape);
            Assert.Equal(v, t.to(ScalarType.Float32).data<float>().ToArray());
        }
        Assert.Throws<ArgumentException>(() => WrongLength(b));
        var e = StoredTensorConverter.ToTorch(new StoredTensor("e", GgmlType.F32, [0, 4], 0), null, 0, ScalarType.Float32);
        Assert.Equal([0L, 4], e.shape);
    }
}
