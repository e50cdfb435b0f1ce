using BenchmarkDotNet.Attributes;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Bench;

/// <summary>
/// Opening a LLaMA-7B GGUF and listing its tensors: our reader (mmap, header only) against ggml's
/// gguf_init_from_file (no_alloc, no tensor context) as the baseline. The file is the real 7B header (291 tensors
/// with llama.cpp's names, shapes and F16/F32 types, llama.* keys, a 32000-token vocabulary) made full length with
/// SetLength, so it is sparse: 13 GB on paper, a few MB on disk.
/// </summary>
[MemoryDiagnoser]
public class GgufOpenBench
{
    private const int Dim = 4096, Layers = 32, Ffn = 11008, Vocab = 32000;
    private static readonly string[] Special = ["<unk>", "<s>", "</s>"];
    private string _path = "";

    [GlobalSetup]
    public void Setup()
    {
        _path = Path.Combine(Path.GetTempPath(), $"gguf-open-bench-{Guid.NewGuid():N}.gguf");
        using var f = new FileStream(_path, FileMode.CreateNew, FileAccess.Write);
        var layout = GgufWriter.WriteHeader(f, Metadata(), Tensors());
        f.SetLength(layout.FileLength);
        if (layout.Tensors.Count != 291) throw new InvalidOperationException($"expected 291 tensors, built {layout.Tensors.Count}");
    }

    [GlobalCleanup]
    public void Cleanup() => File.Delete(_path);

    [Benchmark(Baseline = true)]
    public long Ggml()
    {
        using var g = GgmlGgufFile.TryOpen(_path) ?? throw new InvalidOperationException("ggml refused the bench file");
        long sum = 0;
        foreach (var t in g.ReadTensors()) sum += t.Offset + t.Size + t.Name.Length;
        return sum;
    }

    [Benchmark]
    public long Ours()
    {
        using var r = GgufReader.Open(_path);
        long sum = 0;
        foreach (var t in r.Tensors) sum += t.Offset + t.ByteSize + t.Name.Length;
        return sum;
    }

    private static GgufMetadata Metadata()
    {
        var m = new GgufMetadata();
        m.Set("general.architecture", GgufValue.Of("llama"));
        m.Set("general.name", GgufValue.Of("LLaMA v2 7B"));
        m.Set("general.file_type", GgufValue.Of(1u));
        m.Set("llama.context_length", GgufValue.Of(4096u));
        m.Set("llama.embedding_length", GgufValue.Of((uint)Dim));
        m.Set("llama.block_count", GgufValue.Of((uint)Layers));
        m.Set("llama.feed_forward_length", GgufValue.Of((uint)Ffn));
        m.Set("llama.rope.dimension_count", GgufValue.Of(128u));
        m.Set("llama.attention.head_count", GgufValue.Of(32u));
        m.Set("llama.attention.head_count_kv", GgufValue.Of(32u));
        m.Set("llama.attention.layer_norm_rms_epsilon", GgufValue.Of(1e-5f));
        m.Set("tokenizer.ggml.model", GgufValue.Of("llama"));
        m.Set("tokenizer.ggml.tokens", GgufValue.Array(Enumerable.Range(0, Vocab).Select(i => i < 3 ? Special[i] : $"▁tok{i}").ToArray()));
        m.Set("tokenizer.ggml.scores", GgufValue.Array(Enumerable.Range(0, Vocab).Select(i => -(float)i).ToArray()));
        m.Set("tokenizer.ggml.token_type", GgufValue.Array(Enumerable.Range(0, Vocab).Select(i => i < 3 ? 3 : 1).ToArray()));
        m.Set("tokenizer.ggml.bos_token_id", GgufValue.Of(1u));
        m.Set("tokenizer.ggml.eos_token_id", GgufValue.Of(2u));
        return m;
    }

    private static List<GgufTensorSpec> Tensors()
    {
        var t = new List<GgufTensorSpec> { new("token_embd.weight", GgmlType.F16, [Dim, Vocab]) };
        for (int i = 0; i < Layers; i++)
        {
            t.Add(new($"blk.{i}.attn_norm.weight", GgmlType.F32, [Dim]));
            t.Add(new($"blk.{i}.attn_q.weight", GgmlType.F16, [Dim, Dim]));
            t.Add(new($"blk.{i}.attn_k.weight", GgmlType.F16, [Dim, Dim]));
            t.Add(new($"blk.{i}.attn_v.weight", GgmlType.F16, [Dim, Dim]));
            t.Add(new($"blk.{i}.attn_output.weight", GgmlType.F16, [Dim, Dim]));
            t.Add(new($"blk.{i}.ffn_norm.weight", GgmlType.F32, [Dim]));
            t.Add(new($"blk.{i}.ffn_gate.weight", GgmlType.F16, [Dim, Ffn]));
            t.Add(new($"blk.{i}.ffn_up.weight", GgmlType.F16, [Dim, Ffn]));
            t.Add(new($"blk.{i}.ffn_down.weight", GgmlType.F16, [Ffn, Dim]));
        }
        t.Add(new("output_norm.weight", GgmlType.F32, [Dim]));
        t.Add(new("output.weight", GgmlType.F16, [Dim, Vocab]));
        return t;
    }
}
