using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Tests.Formats;
using LlamaAdapter.Tests.Model;

namespace LlamaAdapter.Tests.Convert;

/// <summary>Writes a <see cref="TinyLlama"/> to disk as an HF directory (one file or shards) or a Meta directory, plus a tiny tokenizer.</summary>
internal static class TinyCheckpoints
{
    /// <summary>A BPE SentencePiece vocabulary of <paramref name="n"/> pieces: unk, bos, eos, then "▁t3" … (built in memory).</summary>
    public static SentencePieceModel Tokenizer(int n, int size = -1) => new()
    {
        Pieces = Enumerable.Range(0, size < 0 ? n : size).Select(i => i switch
        {
            0 => new SentencePiece("<unk>", 0, SentencePieceType.Unknown),
            1 => new SentencePiece("<s>", 0, SentencePieceType.Control),
            2 => new SentencePiece("</s>", 0, SentencePieceType.Control),
            _ => new SentencePiece("\u2581t" + i.ToString(CultureInfo.InvariantCulture), -i, SentencePieceType.Normal),
        }).ToList(),
        TrainerSpec = new SentencePieceTrainerSpec(SentencePieceModelType.Bpe),
        NormalizerSpec = new SentencePieceNormalizerSpec(),
        Source = "tiny tokenizer",
    };

    public static string HfConfigJson(LlamaConfig c, string modelType = "llama") => JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["model_type"] = modelType, ["architectures"] = new[] { "LlamaForCausalLM" },
        ["hidden_size"] = c.Dim, ["num_hidden_layers"] = c.NLayers, ["num_attention_heads"] = c.NHeads,
        ["num_key_value_heads"] = c.NKvHeads, ["intermediate_size"] = c.FfnDim, ["vocab_size"] = c.VocabSize,
        ["rms_norm_eps"] = c.NormEps, ["rope_theta"] = c.RopeTheta, ["max_position_embeddings"] = c.ContextLength,
        ["tie_word_embeddings"] = c.TiedEmbeddings,
    });

    /// <summary>The HF spelling of the tiny model: names mapped, wq/wk rows permuted to rotate_half order.</summary>
    public static IEnumerable<(string Name, long[] Shape, float[] Data)> HfTensors(TinyLlama m)
    {
        var c = m.Config;
        foreach (var (name, data) in m.Data)
        {
            var shape = m.Shapes[name];
            var id = TensorNames.Parse(name, TensorNaming.Meta);
            float[] v = id.Kind switch
            {
                LlamaTensor.AttnQ => TinyLlama.PermuteToHalfSplit(data, c.NHeads, (int)shape[0], (int)shape[1]),
                LlamaTensor.AttnK => TinyLlama.PermuteToHalfSplit(data, c.NKvHeads, (int)shape[0], (int)shape[1]),
                _ => data,
            };
            yield return (TensorNames.Format(id, TensorNaming.HuggingFace), shape, v);
        }
    }

    public static byte[] Encode(float[] v, SafetensorsDType dt) => MetaFixture.Encode(dt, v.Select(x => (double)x));

    /// <summary>Writes config.json and model.safetensors (or <paramref name="shards"/> shards with an index).</summary>
    public static string WriteHf(string dir, TinyLlama m, SafetensorsDType dt = SafetensorsDType.F32, int shards = 1, string modelType = "llama")
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), HfConfigJson(m.Config, modelType));
        var all = HfTensors(m).ToList();
        var map = new Dictionary<string, string>();
        for (int s = 0; s < shards; s++)
        {
            var part = all.Where((_, i) => i % shards == s).ToList();
            string file = shards == 1 ? "model.safetensors" : $"model-{s + 1:00000}-of-{shards:00000}.safetensors";
            using var w = new SafetensorsWriter(Path.Combine(dir, file), part.Select(t => new SafetensorsTensorDecl(t.Name, dt, t.Shape)));
            foreach (var t in part) { w.WriteTensor(t.Name, Encode(t.Data, dt)); map[t.Name] = file; }
            w.Commit();
        }
        if (shards > 1)
            File.WriteAllText(Path.Combine(dir, SafetensorsModel.IndexFileName), JsonSerializer.Serialize(new { metadata = new { }, weight_map = map }));
        return dir;
    }

    /// <summary>Writes params.json and consolidated.00.pth (Meta layout, no permutation). The config's FfnDim must be 96.</summary>
    public static string WriteMeta(string dir, TinyLlama m, SafetensorsDType dt = SafetensorsDType.F32)
    {
        var c = m.Config;
        Assert.Equal(96, LlamaConfig.MetaFfnDim(c.Dim, 32, 0.565));
        Assert.Equal(96, c.FfnDim);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "params.json"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["dim"] = c.Dim, ["n_layers"] = c.NLayers, ["n_heads"] = c.NHeads, ["n_kv_heads"] = c.NKvHeads, ["vocab_size"] = c.VocabSize,
            ["multiple_of"] = 32, ["ffn_dim_multiplier"] = 0.565, ["norm_eps"] = c.NormEps, ["rope_theta"] = c.RopeTheta,
        }));
        File.WriteAllBytes(Path.Combine(dir, "consolidated.00.pth"),
            MetaFixture.Checkpoint(m.Data.Select(kv => (kv.Key, m.Shapes[kv.Key], dt, Encode(kv.Value, dt)))));
        return dir;
    }

    /// <summary>A fresh directory under the system temp folder, removed on Dispose.</summary>
    public sealed class TempDir : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "conv-" + Guid.NewGuid().ToString("N"));
        public TempDir() => Directory.CreateDirectory(Path);
        public string this[string name] => System.IO.Path.Combine(Path, name);
        public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
    }

    public static ReadOnlySpan<float> Floats(ReadOnlySpan<byte> b) => MemoryMarshal.Cast<byte, float>(b);
}
