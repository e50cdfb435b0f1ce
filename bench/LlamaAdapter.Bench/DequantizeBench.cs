using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tensors;

namespace LlamaAdapter.Bench;

/// <summary>
/// Q8_0 / Q4_0 rows of a 4096 x 4096 tensor (16M values), one thread: ggml's own row functions (the Baseline of each
/// category, called through their exported C symbols: dequantize_row_q8_0 / _q4_0 are the type traits' to_float,
/// ggml_quantize_chunk the quantizer) against our managed <see cref="Quantizer"/>. Target: ours within 2x of ggml.
/// Run: dotnet run -c Release --project bench/LlamaAdapter.Bench -- --filter '*DequantizeBench*'
/// </summary>
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
[ShortRunJob]
public unsafe class DequantizeBench
{
    private const int Rows = 4096, RowLength = 4096;

    private float[] _x = [];
    private byte[] _q8 = [], _q4 = [];
    private float[] _y = [];
    private delegate* unmanaged[Cdecl]<byte*, float*, long, void> _dequantizeQ8;
    private delegate* unmanaged[Cdecl]<byte*, float*, long, void> _dequantizeQ4;
    private delegate* unmanaged[Cdecl]<GgmlType, float*, void*, long, long, long, float*, nuint> _quantizeChunk;

    [GlobalSetup]
    public void Setup()
    {
        IntPtr lib = NativeLibrary.Load(GgmlLibrary.PathOf("ggml-base"));
        _dequantizeQ8 = (delegate* unmanaged[Cdecl]<byte*, float*, long, void>)NativeLibrary.GetExport(lib, "dequantize_row_q8_0");
        _dequantizeQ4 = (delegate* unmanaged[Cdecl]<byte*, float*, long, void>)NativeLibrary.GetExport(lib, "dequantize_row_q4_0");
        _quantizeChunk = (delegate* unmanaged[Cdecl]<GgmlType, float*, void*, long, long, long, float*, nuint>)NativeLibrary.GetExport(lib, "ggml_quantize_chunk");

        // Weight-like values: N(0, 0.02) with per-row scales; no real checkpoint is used.
        var rng = new Random(1);
        _x = new float[Rows * RowLength];
        for (int r = 0; r < Rows; r++)
        {
            float scale = 0.02f * (0.5f + (float)rng.NextDouble());
            for (int j = 0; j < RowLength; j++)
                _x[r * RowLength + j] = scale * (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        }
        _q8 = new byte[Quantizer.TensorBytes(GgmlType.Q8_0, Rows, RowLength)];
        _q4 = new byte[Quantizer.TensorBytes(GgmlType.Q4_0, Rows, RowLength)];
        Quantizer.Quantize(GgmlType.Q8_0, _x, _q8, Rows, RowLength);
        Quantizer.Quantize(GgmlType.Q4_0, _x, _q4, Rows, RowLength);
        _y = new float[_x.Length];
    }

    [Benchmark(Baseline = true), BenchmarkCategory("Q8_0 dequantize")]
    public void GgmlToFloatQ8_0()
    {
        fixed (byte* q = _q8) fixed (float* y = _y) _dequantizeQ8(q, y, _y.Length);
    }

    [Benchmark, BenchmarkCategory("Q8_0 dequantize")]
    public void OursQ8_0() => Quantizer.Dequantize(GgmlType.Q8_0, _q8, _y, Rows, RowLength, maxDegreeOfParallelism: 1);

    [Benchmark(Baseline = true), BenchmarkCategory("Q4_0 dequantize")]
    public void GgmlToFloatQ4_0()
    {
        fixed (byte* q = _q4) fixed (float* y = _y) _dequantizeQ4(q, y, _y.Length);
    }

    [Benchmark, BenchmarkCategory("Q4_0 dequantize")]
    public void OursQ4_0() => Quantizer.Dequantize(GgmlType.Q4_0, _q4, _y, Rows, RowLength, maxDegreeOfParallelism: 1);

    [Benchmark(Baseline = true), BenchmarkCategory("Q8_0 quantize")]
    public nuint GgmlQuantizeChunkQ8_0()
    {
        fixed (float* x = _x) fixed (byte* q = _q8) return _quantizeChunk(GgmlType.Q8_0, x, q, 0, Rows, RowLength, null);
    }

    [Benchmark, BenchmarkCategory("Q8_0 quantize")]
    public void OursQuantizeQ8_0() => Quantizer.Quantize(GgmlType.Q8_0, _x, _q8, Rows, RowLength, maxDegreeOfParallelism: 1);
}
