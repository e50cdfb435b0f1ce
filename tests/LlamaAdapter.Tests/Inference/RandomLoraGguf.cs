using System.Runtime.InteropServices;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Tests.Model;

namespace LlamaAdapter.Tests.Inference;

internal static class RandomLoraGguf
{
    /// <summary>A rank-3 LoRA on every block projection and the output, random A and B (alpha 6), in llama.cpp's layout.</summary>
    public static string Write(TinyLlama tiny, string path)
    {
        var c = tiny.Config;
        var rng = new Random(11);
        const int r = 3;
        var md = new GgufMetadata();
        md.Set("general.architecture", GgufValue.Of("llama"));
        md.Set("general.type", GgufValue.Of("adapter"));
        md.Set("adapter.type", GgufValue.Of("lora"));
        md.Set("adapter.lora.alpha", GgufValue.Of(6f));
        var tensors = new List<(GgufTensorSpec Spec, byte[] Bytes)>();
        void Pair(string stem, long @in, long @out)
        {
            byte[] Random(long n) => MemoryMarshal.AsBytes(Enumerable.Range(0, (int)n).Select(_ => (float)(rng.NextDouble() - 0.5) * 0.4f).ToArray().AsSpan()).ToArray();
            tensors.Add((new GgufTensorSpec(stem + ".lora_a", GgmlType.F32, [@in, r]), Random(@in * r)));
            tensors.Add((new GgufTensorSpec(stem + ".lora_b", GgmlType.F32, [r, @out]), Random(r * @out)));
        }
        for (int l = 0; l < c.NLayers; l++)
        {
            string b = $"blk.{l}.";
            Pair(b + "attn_q.weight", c.Dim, c.Dim);
            Pair(b + "attn_k.weight", c.Dim, c.KvDim);
            Pair(b + "attn_v.weight", c.Dim, c.KvDim);
            Pair(b + "attn_output.weight", c.Dim, c.Dim);
            Pair(b + "ffn_gate.weight", c.Dim, c.FfnDim);
            Pair(b + "ffn_up.weight", c.Dim, c.FfnDim);
            Pair(b + "ffn_down.weight", c.FfnDim, c.Dim);
        }
        Pair("output.weight", c.Dim, c.VocabSize);
        using var w = GgufWriter.Create(path, md, tensors.Select(t => t.Spec));
        foreach (var (spec, bytes) in tensors) w.WriteTensor(spec.Name, bytes);
        w.Commit();
        return path;
    }
}
