using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tensors;

namespace LlamaAdapter.Tests.Tensors;

/// <summary>ggml's own conversions, called directly (the independent reference for our managed code and wrapper).
/// Callers pass only valid shapes: ggml aborts on a bad one.</summary>
internal static unsafe class GgmlReference
{
    public static byte[] Quantize(GgmlType type, float[] src, long rows, long rowLength, float[]? importance = null)
    {
        var dst = new byte[Quantizer.TensorBytes(type, rows, rowLength)];
        fixed (float* s = src, im = importance)
        fixed (byte* d = dst)
        {
            nuint written = GgmlApi.ggml_quantize_chunk(type, s, d, 0, rows, rowLength, im);
            Assert.Equal((nuint)dst.Length, written);
        }
        return dst;
    }

    public static float[] ToFloat(GgmlType type, byte[] src, long rows, long rowLength)
    {
        Assert.Equal(Quantizer.TensorBytes(type, rows, rowLength), src.LongLength);
        var dst = new float[rows * rowLength];
        var toFloat = GgmlApi.ggml_get_type_traits(type)->ToFloat;
        Assert.True(toFloat != null);
        fixed (byte* s = src)
        fixed (float* d = dst)
            toFloat(s, d, dst.LongLength);
        return dst;
    }

    /// <summary>Float arrays compared by bit pattern, so NaN payloads and signed zeros count; names the first difference.</summary>
    public static void AssertBitsEqual(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToUInt32Bits(expected[i]) != BitConverter.SingleToUInt32Bits(actual[i]))
                Assert.Fail($"{what}: element {i} is {actual[i]} (0x{BitConverter.SingleToUInt32Bits(actual[i]):X8}), " +
                            $"ggml gives {expected[i]} (0x{BitConverter.SingleToUInt32Bits(expected[i]):X8})");
    }

    public static void AssertBytesEqual(byte[] expected, byte[] actual, string what, int blockBytes)
    {
        Assert.Equal(expected.Length, actual.Length);
        int i = expected.AsSpan().CommonPrefixLength(actual);
        if (i < expected.Length)
            Assert.Fail($"{what}: byte {i} (block {i / blockBytes}, offset {i % blockBytes}) is 0x{actual[i]:X2}, ggml wrote 0x{expected[i]:X2}");
    }
}
