using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Core.Tokenizers;

namespace LlamaAdapter.Convert.Bench;

/// <summary>The shape of a synthetic checkpoint; <see cref="Llama7B"/> is LLaMA-7B's (6.74 B parameters, 13.5 GB in bf16).</summary>
public sealed record SyntheticShape(int Dim, int FfnDim, int Heads, int KvHeads, int Vocab, int Layers)
{
    public static SyntheticShape Llama7B { get; } = new(4096, 11008, 32, 32, 32000, 32);

    public long Parameters => 2L * Vocab * Dim + Dim + Layers * (2L * Dim + 2L * Dim * Dim + 2L * Dim * (Dim / Heads * KvHeads) + 3L * Dim * FfnDim);

    public override string ToString() =>
        $"dim {Dim}, {Layers} layers, {Heads}/{KvHeads} heads, ffn {FfnDim}, vocab {Vocab}: {Parameters / 1e9:0.00} B parameters";
}

/// <summary>
/// A LLaMA-shaped Hugging Face checkpoint of random bf16 weights (a bell shape of std ≈ 0.02, norms 1), written in
/// shards with an index as transformers saves them, and a placeholder vocabulary: what conversion benchmarks read.
/// </summary>
public static class SyntheticCheckpoint
{
    public static void WriteHf(string dir, SyntheticShape shape, int shards, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shards, 1);
        int dim = shape.Dim, ffn = shape.FfnDim, vocab = shape.Vocab, kvDim = dim / shape.Heads * shape.KvHeads;
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["model_type"] = "llama", ["architectures"] = new[] { "LlamaForCausalLM" }, ["hidden_size"] = dim,
            ["num_hidden_layers"] = shape.Layers, ["num_attention_heads"] = shape.Heads, ["num_key_value_heads"] = shape.KvHeads,
            ["intermediate_size"] = ffn, ["vocab_size"] = vocab, ["rms_norm_eps"] = 1e-5, ["max_position_embeddings"] = 4096,
        }));
        var tensors = new List<(string Name, long[] Shape)> { ("model.embed_tokens.weight", [vocab, dim]) };
        for (int l = 0; l < shape.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            tensors.AddRange([(p + "input_layernorm.weight", [dim]), (p + "self_attn.q_proj.weight", [dim, dim]),
                (p + "self_attn.k_proj.weight", [kvDim, dim]), (p + "self_attn.v_proj.weight", [kvDim, dim]),
                (p + "self_attn.o_proj.weight", [dim, dim]), (p + "post_attention_layernorm.weight", [dim]),
                (p + "mlp.gate_proj.weight", [ffn, dim]), (p + "mlp.up_proj.weight", [ffn, dim]), (p + "mlp.down_proj.weight", [dim, ffn])]);
        }
        tensors.AddRange([("model.norm.weight", [dim]), ("lm_head.weight", [vocab, dim])]);

        // Contiguous runs of tensors per shard, as transformers splits them.
        long total = tensors.Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));
        var map = new Dictionary<string, string>();
        ulong state = 0x9E3779B97F4A7C15;
        var buffer = new ushort[1 << 20];
        int next = 0;
        for (int s = 0; s < shards; s++)
        {
            var part = new List<(string Name, long[] Shape)>();
            long target = total * (s + 1) / shards, done = tensors.Take(next).Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));
            while (next < tensors.Count && (s == shards - 1 || done < target || part.Count == 0))
            {
                done += tensors[next].Shape.Aggregate(1L, (a, b) => a * b);
                part.Add(tensors[next++]);
            }
            string file = string.Create(CultureInfo.InvariantCulture, $"model-{s + 1:00000}-of-{shards:00000}.safetensors");
            using var w = new SafetensorsWriter(Path.Combine(dir, file), part.Select(t => new SafetensorsTensorDecl(t.Name, SafetensorsDType.BF16, t.Shape)));
            foreach (var (name, dims) in part)
            {
                map[name] = file;
                long n = dims.Aggregate(1L, (a, b) => a * b);
                bool norm = dims.Length == 1;
                for (long at = 0; at < n; at += buffer.Length)
                {
                    ct.ThrowIfCancellationRequested();
                    int count = (int)Math.Min(buffer.Length, n - at);
                    for (int i = 0; i < count; i++)
                    {
                        state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                        // the sum of two uniforms: a cheap bell shape
                        float x = norm ? 1f : ((state & 0xFFFF) + ((state >> 16) & 0xFFFF) - 65535f) / 65535f * 0.05f;
                        buffer[i] = (ushort)(BitConverter.SingleToUInt32Bits(x) >> 16);
                    }
                    w.Write(MemoryMarshal.AsBytes(buffer.AsSpan(0, count)));
                }
            }
            w.Commit();
        }
        File.WriteAllText(Path.Combine(dir, SafetensorsModel.IndexFileName), JsonSerializer.Serialize(new { metadata = new { total_size = total * 2 }, weight_map = map }));
    }

    /// <summary>A BPE SentencePiece model of <paramref name="n"/> placeholder pieces (unk, bos, eos, then "▁p3", …).</summary>
    public static SentencePieceModel Tokenizer(int n) => new()
    {
        Pieces = Enumerable.Range(0, n).Select(i => i switch
        {
            0 => new SentencePiece("<unk>", 0, SentencePieceType.Unknown),
            1 => new SentencePiece("<s>", 0, SentencePieceType.Control),
            2 => new SentencePiece("</s>", 0, SentencePieceType.Control),
            _ => new SentencePiece("\u2581p" + i.ToString(CultureInfo.InvariantCulture), -i, SentencePieceType.Normal),
        }).ToList(),
        TrainerSpec = new SentencePieceTrainerSpec(SentencePieceModelType.Bpe),
        NormalizerSpec = new SentencePieceNormalizerSpec(),
        Source = "synthetic vocabulary",
    };
}
