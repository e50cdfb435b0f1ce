using System.Runtime.InteropServices;
using LlamaAdapter.Core.Formats;

namespace LlamaAdapter.Tests.Formats;

public sealed class NamesRotaryPermutationTests
{
    [Fact]
    public void MetaToHf_HandWorkedExample()
    {
        // One head of dimension 4 over 1-byte rows named by their Meta index: Meta pairs are (0,1), (2,3);
        // HF puts the first members of the pairs in the first half: 0, 2 | 1, 3.
        Assert.Equal([0, 2, 1, 3], RotaryPermutation.MetaToHf([0, 1, 2, 3], rows: 4, nHeads: 1));
        // Two heads of dimension 6, rows of 2 bytes: head-local permutation 0,2,4,1,3,5.
        byte[] meta = [.. Enumerable.Range(0, 12).SelectMany(r => new[] { (byte)r, (byte)(100 + r) })];
        byte[] hf = RotaryPermutation.MetaToHf(meta, rows: 12, nHeads: 2);
        int[] expectedRows = [0, 2, 4, 1, 3, 5, 6, 8, 10, 7, 9, 11];
        Assert.Equal(expectedRows.SelectMany(r => new[] { (byte)r, (byte)(100 + r) }), hf);
        Assert.Equal(meta, RotaryPermutation.HfToMeta(hf, rows: 12, nHeads: 2));
    }

    [Theory]
    [InlineData(8, 1, 3, 4)]      // one head
    [InlineData(32, 4, 5, 2)]     // wq: 4 heads of 8, fp16-sized elements
    [InlineData(16, 2, 5, 2)]     // wk under GQA: the same model's 2 KV heads of 8
    [InlineData(64, 8, 1, 4)]     // a bias-like single column
    [InlineData(12, 3, 7, 1)]
    public void PermuteThenUnpermute_IsIdentityBothWays(int rows, int nHeads, int cols, int elemSize)
    {
        var rng = new Random(rows * 31 + cols);
        var x = new byte[rows * cols * elemSize];
        rng.NextBytes(x);
        var hf = RotaryPermutation.MetaToHf(x, rows, nHeads);
        Assert.NotEqual(x, hf); // random rows: a real permutation moves something
        Assert.Equal(x, RotaryPermutation.HfToMeta(hf, rows, nHeads));
        Assert.Equal(x, RotaryPermutation.MetaToHf(RotaryPermutation.HfToMeta(x, rows, nHeads), rows, nHeads));
    }

    [Theory]
    [InlineData(10, 4)]   // rows not a multiple of heads
    [InlineData(12, 4)]   // odd head dimension
    [InlineData(0, 1)]
    public void Permute_RefusesImpossibleShapes(int rows, int nHeads) =>
        Assert.Throws<ArgumentException>(() => RotaryPermutation.MetaToHf(new byte[Math.Max(rows, 1) * 2], rows, nHeads));

    // Meta's apply_rotary_emb: complex view of adjacent pairs times e^{i·pos·θ_k}, θ_k = base^(−2k/d).
    private static float[] RopeMeta(float[] q, int nHeads, int pos, double theta)
    {
        int d = q.Length / nHeads;
        var o = new float[q.Length];
        for (int h = 0; h < nHeads; h++)
            for (int k = 0; k < d / 2; k++)
            {
                double a = pos * Math.Pow(theta, -2.0 * k / d), c = Math.Cos(a), s = Math.Sin(a);
                double x0 = q[h * d + 2 * k], x1 = q[h * d + 2 * k + 1];
                o[h * d + 2 * k] = (float)(x0 * c - x1 * s);
                o[h * d + 2 * k + 1] = (float)(x0 * s + x1 * c);
            }
        return o;
    }

    // HF's apply_rotary_pos_emb: q·cos + rotate_half(q)·sin with the frequencies repeated over both halves.
    private static float[] RopeHf(float[] q, int nHeads, int pos, double theta)
    {
        int d = q.Length / nHeads, half = d / 2;
        var o = new float[q.Length];
        for (int h = 0; h < nHeads; h++)
            for (int i = 0; i < d; i++)
            {
                double a = pos * Math.Pow(theta, -2.0 * (i % half) / d);
                double rotated = i < half ? -q[h * d + i + half] : q[h * d + i - half];
                o[h * d + i] = (float)(q[h * d + i] * Math.Cos(a) + rotated * Math.Sin(a));
            }
        return o;
    }

    private static float[] MatVec(float[] w, float[] x)
    {
        int rows = w.Length / x.Length;
        var y = new float[rows];
        for (int r = 0; r < rows; r++)
        {
            double acc = 0;
            for (int c = 0; c < x.Length; c++) acc += (double)w[r * x.Length + c] * x[c];
            y[r] = (float)acc;
        }
        return y;
    }

    private static float[] Permuted(float[] w, int rows, int nHeads) =>
        MemoryMarshal.Cast<byte, float>(RotaryPermutation.MetaToHf(MemoryMarshal.AsBytes(w.AsSpan()), rows, nHeads)).ToArray();

    [Fact]
    public void RotaryOnMetaWeights_EqualsHfRotaryOnPermutedWeights_IncludingGqaScores()
    {
        const int dim = 16, nHeads = 4, nKv = 2, headDim = dim / nHeads;
        var rng = new Random(3);
        float[] Rand(int n) => [.. Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1))];
        float[] wq = Rand(dim * dim), wk = Rand(nKv * headDim * dim), x = Rand(dim), x2 = Rand(dim);
        float[] wqHf = Permuted(wq, dim, nHeads), wkHf = Permuted(wk, nKv * headDim, nKv);

        foreach (int pos in new[] { 0, 1, 7, 100 })
        {
            float[] qMeta = RopeMeta(MatVec(wq, x), nHeads, pos, 10000);
            float[] qHf = RopeHf(MatVec(wqHf, x), nHeads, pos, 10000);
            // The HF vector is the Meta vector with rows permuted within each head.
            float[] qMetaAsHf = Permuted(qMeta, dim, nHeads);
            for (int i = 0; i < dim; i++) Assert.Equal(qMetaAsHf[i], qHf[i], 1e-5f);

            // Attention scores q·k per head (q head h uses KV head h / (nHeads / nKv)) are identical.
            float[] kMeta = RopeMeta(MatVec(wk, x2), nKv, pos + 3, 10000);
            float[] kHf = RopeHf(MatVec(wkHf, x2), nKv, pos + 3, 10000);
            for (int h = 0; h < nHeads; h++)
            {
                int g = h / (nHeads / nKv);
                double sMeta = 0, sHf = 0;
                for (int i = 0; i < headDim; i++)
                {
                    sMeta += qMeta[h * headDim + i] * kMeta[g * headDim + i];
                    sHf += qHf[h * headDim + i] * kHf[g * headDim + i];
                }
                Assert.Equal(sMeta, sHf, 1e-5);
            }
        }
        // Without the permutation the two rotaries disagree: the test can fail.
        float[] wrong = RopeHf(MatVec(wq, x), nHeads, 7, 10000), right = Permuted(RopeMeta(MatVec(wq, x), nHeads, 7, 10000), dim, nHeads);
        Assert.Contains(Enumerable.Range(0, dim), i => Math.Abs(wrong[i] - right[i]) > 1e-3);
    }
}
