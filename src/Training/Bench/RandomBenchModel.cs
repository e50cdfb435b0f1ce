using System.Globalization;
using System.Runtime.InteropServices;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Training.Loading;

namespace LlamaAdapter.Training.Bench;

/// <summary>
/// Random files for speed measurements: a LLaMA GGUF that both our engine and libllama load (it carries a synthetic
/// SentencePiece vocabulary of the model's size, since libllama refuses a model without one), and a gated prompt
/// adapter for it with random prompts projected through the model's own wk/wv, as the converter does.
/// </summary>
public static class RandomBenchModel
{
    /// <summary>A LLaMA-2-like shape: dim <paramref name="dim"/>, head dim 64, no GQA, ffn by Meta's rule (multiple of 256), vocab 32000.</summary>
    public static LlamaConfig Config(int dim = 1024, int layers = 4, int vocab = 32000, int contextLength = 2048)
    {
        int ffn = (2 * 4 * dim / 3 + 255) / 256 * 256;
        return new LlamaConfig(Dim: dim, NLayers: layers, NHeads: dim / 64, NKvHeads: dim / 64, FfnDim: ffn, VocabSize: vocab,
            ContextLength: contextLength);
    }

    /// <summary>Writes <paramref name="weights"/> as a GGUF with matrices in <paramref name="type"/> and a synthetic vocabulary.</summary>
    public static void WriteModel(TinyLlamaWeights weights, string path, GgmlType type) =>
        TinyLlamaFactory.WriteGguf(weights, path, type, GgufTokenizerMetadata.FromSentencePiece(SyntheticVocabulary(weights.Config.VocabSize)));

    /// <summary>&lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, the newline byte, then "▁t4", "▁t5", … scored so that no two merge into a longer piece.</summary>
    public static SentencePieceModel SyntheticVocabulary(int size) => new()
    {
        Pieces = Enumerable.Range(0, size).Select(i => i switch
        {
            0 => new SentencePiece("<unk>", 0, SentencePieceType.Unknown),
            1 => new SentencePiece("<s>", 0, SentencePieceType.Control),
            2 => new SentencePiece("</s>", 0, SentencePieceType.Control),
            3 => new SentencePiece("<0x0A>", 0, SentencePieceType.Byte), // libllama looks up the newline token
            _ => new SentencePiece("\u2581t" + i.ToString(CultureInfo.InvariantCulture), -i, SentencePieceType.Normal),
        }).ToList(),
        TrainerSpec = new SentencePieceTrainerSpec(SentencePieceModelType.Bpe),
        NormalizerSpec = new SentencePieceNormalizerSpec(),
        Source = "synthetic benchmark vocabulary",
    };

    /// <summary>
    /// A linear (zero-init gated) adapter over the last <paramref name="layers"/> blocks with <paramref name="promptLength"/>
    /// random prompts each, K_p = wk·P and V_p = wv·P from the base weights, raw per-head gates ~ U(±0.5) (tanh mode).
    /// </summary>
    public static void WriteAdapter(TinyLlamaWeights weights, string path, int promptLength = 10, int? layers = null, int seed = 2)
    {
        var c = weights.Config;
        int count = layers ?? c.NLayers, first = c.NLayers - count, dim = c.Dim, kv = c.KvDim, len = promptLength;
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, c.NLayers);
        ArgumentOutOfRangeException.ThrowIfLessThan(len, 1);
        var md = new GgufMetadata();
        md.Set("general.architecture", GgufValue.Of("llama"));
        md.Set("general.type", GgufValue.Of("adapter"));
        md.Set("adapter.type", GgufValue.Of("llama_adapter_prompt"));
        md.Set("llama_adapter.kind", GgufValue.Of("linear"));
        md.Set("llama_adapter.prompt_length", GgufValue.Of((uint)len));
        md.Set("llama_adapter.layer_count", GgufValue.Of((uint)count));
        md.Set("llama_adapter.first_layer", GgufValue.Of((uint)first));
        md.Set("llama_adapter.gate_mode", GgufValue.Of("per_head_tanh"));
        md.Set("llama_adapter.base.embedding_length", GgufValue.Of((uint)dim));
        md.Set("llama_adapter.base.block_count", GgufValue.Of((uint)c.NLayers));
        md.Set("llama_adapter.base.head_count", GgufValue.Of((uint)c.NHeads));
        md.Set("llama_adapter.base.head_count_kv", GgufValue.Of((uint)c.NKvHeads));
        md.Set("llama_adapter.base.vocab_size", GgufValue.Of((uint)c.VocabSize));

        var rng = new Random(seed);
        var tensors = new List<(GgufTensorSpec Spec, float[] Data)>();
        for (int layer = first; layer < c.NLayers; layer++)
        {
            var prompt = new float[len * dim];                                  // P [L, dim]
            for (int i = 0; i < prompt.Length; i++) prompt[i] = (float)(2 * rng.NextDouble() - 1);
            float[] Project(float[] w)                                          // w [kv, dim] · Pᵀ → [L, kv]
            {
                var o = new float[len * kv];
                for (int j = 0; j < len; j++)
                    for (int r = 0; r < kv; r++)
                    {
                        double s = 0;
                        for (int e = 0; e < dim; e++) s += w[r * dim + e] * prompt[j * dim + e];
                        o[j * kv + r] = (float)s;
                    }
                return o;
            }
            var gate = new float[c.NHeads];
            for (int h = 0; h < gate.Length; h++) gate[h] = (float)(rng.NextDouble() - 0.5);
            string b = $"blk.{layer}.";
            tensors.Add((new GgufTensorSpec(b + "adapter_k", GgmlType.F32, [kv, len]), Project(weights.Data[$"layers.{layer}.attention.wk.weight"])));
            tensors.Add((new GgufTensorSpec(b + "adapter_v", GgmlType.F32, [kv, len]), Project(weights.Data[$"layers.{layer}.attention.wv.weight"])));
            tensors.Add((new GgufTensorSpec(b + "adapter_gate", GgmlType.F32, [c.NHeads]), gate));
            tensors.Add((new GgufTensorSpec(b + "adapter_prompt", GgmlType.F32, [dim, len]), prompt));
        }
        using var writer = GgufWriter.Create(path, md, tensors.Select(t => t.Spec));
        foreach (var (spec, data) in tensors) writer.WriteTensor(spec.Name, MemoryMarshal.AsBytes(data.AsSpan()));
        writer.Commit();
    }
}
