using LlamaAdapter.Core.Config;
using LlamaAdapter.Training.Model;

namespace LlamaAdapter.Tests.Model;

/// <summary>What the reference adds on the adapter layers: per-layer prompts [L·dim] and gates (null = joint softmax).</summary>
internal sealed record ReferencePrompts(double[][] Prompts, double[][]? Gates, int PromptLength);

/// <summary>
/// An independent LLaMA forward in double loops, written from the equations (seed-code §2; Meta llama/model.py), with
/// no TorchSharp: the oracle for the TorchSharp model.
/// </summary>
internal static class ReferenceLlama
{
    public static double[,,] Forward(TinyLlama w, long[,] ids, RopeLayout layout, ReferencePrompts? adapter = null)
    {
        var c = w.Config;
        int b = ids.GetLength(0), t = ids.GetLength(1), dim = c.Dim;
        var logits = new double[b, t, c.VocabSize];
        var invFreq = InverseFrequencies(c);
        for (int bi = 0; bi < b; bi++)
        {
            var h = new double[t][];
            for (int i = 0; i < t; i++) h[i] = Row(w.Data["tok_embeddings.weight"], ids[bi, i], dim);
            int first = adapter is null ? c.NLayers : c.NLayers - adapter.Prompts.Length;
            for (int l = 0; l < c.NLayers; l++)
            {
                string p = $"layers.{l}.";
                var x = h.Select(r => RmsNorm(r, w.Data[p + "attention_norm.weight"], c.NormEps)).ToArray();
                var attn = AttentionLayer(w, p, x, layout, invFreq, l >= first ? adapter : null, l - first);
                for (int i = 0; i < t; i++) h[i] = Add(h[i], attn[i]);
                for (int i = 0; i < t; i++)
                {
                    var n = RmsNorm(h[i], w.Data[p + "ffn_norm.weight"], c.NormEps);
                    var a = MatVec(w.Data[p + "feed_forward.w1.weight"], n, c.FfnDim);
                    var g = MatVec(w.Data[p + "feed_forward.w3.weight"], n, c.FfnDim);
                    var s = a.Select((v, j) => v / (1 + Math.Exp(-v)) * g[j]).ToArray();
                    h[i] = Add(h[i], MatVec(w.Data[p + "feed_forward.w2.weight"], s, dim));
                }
            }
            var outW = c.TiedEmbeddings ? w.Data["tok_embeddings.weight"] : w.Data["output.weight"];
            for (int i = 0; i < t; i++)
            {
                var y = MatVec(outW, RmsNorm(h[i], w.Data["norm.weight"], c.NormEps), c.VocabSize);
                for (int v = 0; v < c.VocabSize; v++) logits[bi, i, v] = y[v];
            }
        }
        return logits;
    }

    private static double[][] AttentionLayer(TinyLlama w, string p, double[][] x, RopeLayout layout, double[] invFreq,
        ReferencePrompts? adapter, int k)
    {
        var c = w.Config;
        int t = x.Length, hd = c.HeadDim, nRep = c.NHeads / c.NKvHeads;
        var q = x.Select((r, i) => Rope(MatVec(w.Data[p + "attention.wq.weight"], r, c.Dim), i, hd, layout, invFreq)).ToArray();
        var kk = x.Select((r, i) => Rope(MatVec(w.Data[p + "attention.wk.weight"], r, c.KvDim), i, hd, layout, invFreq)).ToArray();
        var v = x.Select(r => MatVec(w.Data[p + "attention.wv.weight"], r, c.KvDim)).ToArray();
        double[][]? pk = null, pv = null;
        if (adapter is not null)
        {
            int len = adapter.PromptLength;
            var rows = Enumerable.Range(0, len).Select(j => adapter.Prompts[k].Skip(j * c.Dim).Take(c.Dim).ToArray()).ToArray();
            pk = rows.Select(r => MatVec(w.Data[p + "attention.wk.weight"], r, c.KvDim)).ToArray(); // no rotary, no norm
            pv = rows.Select(r => MatVec(w.Data[p + "attention.wv.weight"], r, c.KvDim)).ToArray();
        }
        double scale = 1 / Math.Sqrt(hd);
        var o = new double[t][];
        for (int i = 0; i < t; i++)
        {
            o[i] = new double[c.Dim];
            for (int h = 0; h < c.NHeads; h++)
            {
                int kv = h / nRep;
                double Dot(double[] a, double[] bb) { double s = 0; for (int e = 0; e < hd; e++) s += a[h * hd + e] * bb[kv * hd + e]; return s; }
                var tokScores = Enumerable.Range(0, i + 1).Select(u => Dot(q[i], kk[u]) * scale).ToList();
                var promptScores = pk?.Select(r => Dot(q[i], r) * scale).ToList() ?? [];
                var acc = new double[hd];
                void Mix(IList<double> probs, double[][] vals, double weight)
                {
                    for (int u = 0; u < probs.Count; u++)
                        for (int e = 0; e < hd; e++) acc[e] += weight * probs[u] * vals[u][kv * hd + e];
                }
                if (adapter is { Gates: null })
                {
                    // One softmax over [prompts ; tokens ≤ i].
                    var joint = Softmax(promptScores.Concat(tokScores).ToList());
                    Mix(joint.Take(promptScores.Count).ToList(), pv!, 1);
                    Mix(joint.Skip(promptScores.Count).ToList(), v, 1);
                }
                else
                {
                    Mix(Softmax(tokScores), v, 1);
                    if (adapter is not null)
                    {
                        var g = adapter.Gates![k];
                        Mix(Softmax(promptScores), pv!, g.Length == 1 ? g[0] : g[h]);
                    }
                }
                Array.Copy(acc, 0, o[i], h * hd, hd);
            }
        }
        return o.Select(r => MatVec(w.Data[p + "attention.wo.weight"], r, c.Dim)).ToArray();
    }

    /// <summary>θ_i = theta^(−2i/d) with linear or llama3 scaling, in double.</summary>
    public static double[] InverseFrequencies(LlamaConfig c)
    {
        int hd = c.HeadDim;
        var f = Enumerable.Range(0, hd / 2).Select(i => 1 / Math.Pow(c.RopeTheta, 2.0 * i / hd)).ToArray();
        if (c.RopeScaling is not { } s || s.Type == RopeScalingType.None) return f;
        if (s.Type == RopeScalingType.Linear) return f.Select(x => x / s.Factor).ToArray();
        double lowWl = s.OriginalContextLength / s.LowFreqFactor, highWl = s.OriginalContextLength / s.HighFreqFactor;
        return f.Select(x =>
        {
            double wl = 2 * Math.PI / x;
            if (wl < highWl) return x;
            if (wl > lowWl) return x / s.Factor;
            double smooth = (s.OriginalContextLength / wl - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
            return (1 - smooth) * x / s.Factor + smooth * x;
        }).ToArray();
    }

    private static double[] Rope(double[] x, int pos, int hd, RopeLayout layout, double[] invFreq)
    {
        var o = (double[])x.Clone();
        for (int h = 0; h < x.Length / hd; h++)
            for (int i = 0; i < hd / 2; i++)
            {
                int a = layout == RopeLayout.Interleaved ? h * hd + 2 * i : h * hd + i;
                int bb = layout == RopeLayout.Interleaved ? a + 1 : a + hd / 2;
                double cs = Math.Cos(pos * invFreq[i]), sn = Math.Sin(pos * invFreq[i]);
                o[a] = x[a] * cs - x[bb] * sn;
                o[bb] = x[a] * sn + x[bb] * cs;
            }
        return o;
    }

    private static List<double> Softmax(IList<double> s)
    {
        double m = s.Max();
        var e = s.Select(x => Math.Exp(x - m)).ToList();
        double z = e.Sum();
        return e.Select(x => x / z).ToList();
    }

    private static double[] RmsNorm(double[] x, float[] weight, double eps)
    {
        double ms = x.Select(v => v * v).Average();
        double r = 1 / Math.Sqrt(ms + eps);
        return x.Select((v, i) => v * r * weight[i]).ToArray();
    }

    private static double[] MatVec(float[] w, double[] x, int rows)
    {
        int cols = x.Length;
        var y = new double[rows];
        for (int r = 0; r < rows; r++)
        {
            double s = 0;
            for (int j = 0; j < cols; j++) s += w[(long)r * cols + j] * x[j];
            y[r] = s;
        }
        return y;
    }

    private static double[] Row(float[] w, long row, int cols) =>
        Enumerable.Range(0, cols).Select(j => (double)w[row * cols + j]).ToArray();

    private static double[] Add(double[] a, double[] b) => a.Select((v, i) => v + b[i]).ToArray();
}
