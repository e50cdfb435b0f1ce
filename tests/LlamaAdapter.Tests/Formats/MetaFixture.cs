using System.Runtime.InteropServices;
using LlamaAdapter.Core.Formats.Safetensors;
using static LlamaAdapter.Tests.Formats.MetaTorchSaveWriter;

namespace LlamaAdapter.Tests.Formats;

/// <summary>
/// The tiny LLaMA checkpoint that tools/make_meta_fixture.py also writes with real torch: dim 8, 2 heads, 1 layer,
/// vocab 16, multiple_of 4 (FFN 24). Values v(t, i) = ((7i + 3t) mod 23 − 11) / 8 are exact in fp16, bf16 and fp32.
/// </summary>
internal static class MetaFixture
{
    public const string ParamsJson = """{"dim": 8, "multiple_of": 4, "n_heads": 2, "n_layers": 1, "norm_eps": 1e-05, "vocab_size": -1}""";

    public static readonly (string Name, long[] Shape, SafetensorsDType DType)[] Tensors =
    [
        ("tok_embeddings.weight", [16, 8], SafetensorsDType.F16),
        ("layers.0.attention.wq.weight", [8, 8], SafetensorsDType.F16),
        ("layers.0.attention.wk.weight", [8, 8], SafetensorsDType.F16),
        ("layers.0.attention.wv.weight", [8, 8], SafetensorsDType.F16),
        ("layers.0.attention.wo.weight", [8, 8], SafetensorsDType.F16),
        ("layers.0.feed_forward.w1.weight", [24, 8], SafetensorsDType.F16),
        ("layers.0.feed_forward.w2.weight", [8, 24], SafetensorsDType.F16),
        ("layers.0.feed_forward.w3.weight", [24, 8], SafetensorsDType.F16),
        ("layers.0.attention_norm.weight", [8], SafetensorsDType.F32),
        ("layers.0.ffn_norm.weight", [8], SafetensorsDType.F32),
        ("norm.weight", [8], SafetensorsDType.F32),
        ("output.weight", [16, 8], SafetensorsDType.BF16),
        ("rope.freqs", [2], SafetensorsDType.F32),
    ];

    public static double Value(int tensor, long i) => ((7 * i + 3 * tensor) % 23 - 11) / 8.0;

    public static byte[] Encode(SafetensorsDType dt, IEnumerable<double> values) => dt switch
    {
        SafetensorsDType.F32 => MemoryMarshal.AsBytes(values.Select(v => (float)v).ToArray().AsSpan()).ToArray(),
        SafetensorsDType.F16 => MemoryMarshal.AsBytes(values.Select(v => (Half)v).ToArray().AsSpan()).ToArray(),
        // bf16 is the top half of the fp32 bits (the values here are exact, so no rounding question arises).
        SafetensorsDType.BF16 => MemoryMarshal.AsBytes(values.Select(v => (ushort)(BitConverter.SingleToUInt32Bits((float)v) >> 16)).ToArray().AsSpan()).ToArray(),
        _ => throw new ArgumentException(dt.ToString()),
    };

    public static string StorageType(SafetensorsDType dt) => dt switch
    {
        SafetensorsDType.F32 => "FloatStorage", SafetensorsDType.F16 => "HalfStorage", SafetensorsDType.BF16 => "BFloat16Storage",
        _ => throw new ArgumentException(dt.ToString()),
    };

    /// <summary>Row-major bytes of every fixture tensor.</summary>
    public static Dictionary<string, byte[]> Expected()
    {
        var d = new Dictionary<string, byte[]>();
        for (int t = 0; t < Tensors.Length; t++)
        {
            var (name, shape, dt) = Tensors[t];
            long n = shape.Aggregate(1L, (a, x) => a * x);
            d[name] = Encode(dt, Enumerable.Range(0, (int)n).Select(i => Value(t, i)));
        }
        return d;
    }

    public static long[] RowMajorStride(long[] shape)
    {
        var s = new long[shape.Length];
        long acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    /// <summary>consolidated.00.pth bytes for a set of (name, shape, dtype, bytes); storages keyed "0", "1", … in order.</summary>
    public static byte[] Checkpoint(IEnumerable<(string Name, long[] Shape, SafetensorsDType DType, byte[] Bytes)> tensors, bool ordered = false, bool zip64 = false, bool deflate = false)
    {
        var storages = new List<Storage>();
        var items = new List<(string, object)>();
        foreach (var (name, shape, dt, bytes) in tensors)
        {
            var s = new Storage(StorageType(dt), storages.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), bytes.Length / dt.ElementSize(), bytes);
            storages.Add(s);
            items.Add((name, TensorObject(new Tensor(s, 0, shape, RowMajorStride(shape)))));
        }
        return Zip("consolidated", Pickle(items, ordered), storages, zip64, deflate);
    }

    public static byte[] Checkpoint(bool ordered = false, bool zip64 = false, bool deflate = false)
    {
        var e = Expected();
        return Checkpoint(Tensors.Select(t => (t.Name, t.Shape, t.DType, e[t.Name])), ordered, zip64, deflate);
    }
}
