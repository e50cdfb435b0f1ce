using System.Runtime.InteropServices;
using System.Text.Json;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tensors;
using LlamaAdapter.Training.Model;

namespace LlamaAdapter.Training.Loading;

/// <summary>A random LLaMA as float32 arrays under Meta names, row-major, in Meta's interleaved rotary layout.</summary>
public sealed record TinyLlamaWeights(LlamaConfig Config, IReadOnlyDictionary<string, float[]> Data, IReadOnlyDictionary<string, long[]> Shapes);

/// <summary>
/// Makes small seeded random LLaMAs and writes the very same numbers as an HF directory (wq/wk permuted to the
/// half-split layout exactly as convert_llama_weights_to_hf does) or as a llama.cpp GGUF file (Meta layout,
/// llama.cpp names, 2-D weights in the chosen type and 1-D norms in F32 as llama.cpp keeps them). For tests and demos.
/// </summary>
public static class TinyLlamaFactory
{
    /// <summary>dim 64, 2 layers, 4 heads over 2 KV heads (GQA), ffn 96 (Meta's rule for multiple_of 32 and ffn_dim_multiplier 0.5), vocab 97.</summary>
    public static LlamaConfig DefaultConfig(bool tiedEmbeddings = false) =>
        new(Dim: 64, NLayers: 2, NHeads: 4, NKvHeads: 2, FfnDim: 96, VocabSize: 97,
            RopeTheta: 10000, NormEps: 1e-5, ContextLength: 128, TiedEmbeddings: tiedEmbeddings);

    /// <summary>Linear weights ~ U(±√(3/fan_in)) keep activations O(1); embeddings U(±1); norms 1 ± 0.2.</summary>
    public static TinyLlamaWeights Create(LlamaConfig config, int seed = 1)
    {
        config.Validate("TinyLlamaFactory");
        var rng = new Random(seed);
        var data = new Dictionary<string, float[]>(StringComparer.Ordinal);
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var (name, shape) in WeightSource.ExpectedTensors(config))
        {
            var v = new float[shape.Aggregate(1L, (a, b) => a * b)];
            if (shape.Length == 1)
                for (int i = 0; i < v.Length; i++) v[i] = (float)(1 + 0.4 * (rng.NextDouble() - 0.5));
            else
            {
                double bound = name == "tok_embeddings.weight" ? 1.0 : Math.Sqrt(3.0 / shape[1]);
                for (int i = 0; i < v.Length; i++) v[i] = (float)(bound * (2 * rng.NextDouble() - 1));
            }
            data[name] = v;
            shapes[name] = shape;
        }
        return new TinyLlamaWeights(config, data, shapes);
    }

    /// <summary>
    /// config.json + model.safetensors in transformers' names, wq/wk rows permuted to the half-split layout; with
    /// <paramref name="shards"/> &gt; 1, model-0000k-of-0000n.safetensors and model.safetensors.index.json as save_pretrained shards.
    /// </summary>
    public static void WriteHuggingFace(TinyLlamaWeights w, string dir, SafetensorsDType dtype = SafetensorsDType.F32, int shards = 1)
    {
        if (dtype is not (SafetensorsDType.F32 or SafetensorsDType.F16 or SafetensorsDType.BF16))
            throw new ArgumentException($"dtype {dtype}: expected F32, F16 or BF16", nameof(dtype));
        ArgumentOutOfRangeException.ThrowIfLessThan(shards, 1);
        Directory.CreateDirectory(dir);
        var c = w.Config;
        var names = w.Data.Keys.ToList();
        string Hf(string n) => TensorNames.Convert(n, TensorNaming.Meta, TensorNaming.HuggingFace);
        var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
        int perShard = (names.Count + shards - 1) / shards;
        for (int s = 0; s < shards; s++)
        {
            var part = names.Skip(s * perShard).Take(perShard).ToList();
            string file = shards == 1 ? SafetensorsModel.SingleFileName : $"model-{s + 1:00000}-of-{shards:00000}.safetensors";
            using var writer = new SafetensorsWriter(Path.Combine(dir, file), part.Select(n => new SafetensorsTensorDecl(Hf(n), dtype, w.Shapes[n])).ToList(),
                                                     new Dictionary<string, string> { ["format"] = "pt" });
            foreach (var n in part)
            {
                byte[] bytes = Encode(w.Data[n], dtype switch { SafetensorsDType.F16 => GgmlType.F16, SafetensorsDType.BF16 => GgmlType.BF16, _ => GgmlType.F32 });
                var id = TensorNames.Parse(n, TensorNaming.Meta);
                int rows = (int)w.Shapes[n][0];
                if (id.Kind == LlamaTensor.AttnQ) bytes = RotaryPermutation.MetaToHf(bytes, rows, c.NHeads);
                else if (id.Kind == LlamaTensor.AttnK) bytes = RotaryPermutation.MetaToHf(bytes, rows, c.NKvHeads);
                writer.WriteTensor(Hf(n), bytes);
                weightMap[Hf(n)] = file;
            }
            writer.Commit();
        }
        if (shards > 1) AtomicFile.WriteAllBytes(Path.Combine(dir, SafetensorsModel.IndexFileName), JsonSerializer.SerializeToUtf8Bytes(new { metadata = new { }, weight_map = weightMap }));
        AtomicFile.WriteAllBytes(Path.Combine(dir, "config.json"), HfConfigJson(c, dtype));
    }

    /// <summary>
    /// A llama.cpp GGUF: llama.* metadata, blk.N.* names, 2-D weights as <paramref name="type"/>, norms F32;
    /// <paramref name="extraMetadata"/> (e.g. tokenizer.ggml.*, which libllama needs to load a model) goes first.
    /// </summary>
    public static void WriteGguf(TinyLlamaWeights w, string path, GgmlType type = GgmlType.F32, GgufMetadata? extraMetadata = null, string name = "tiny-llama")
    {
        if (!Quantizer.Supports(type) && !GgmlQuantizer.CanQuantize(type))
            throw new ArgumentException($"type {type}: ggml cannot quantize to it", nameof(type));
        var md = new GgufMetadata();
        md.Set("general.name", GgufValue.Of(name));
        foreach (var (key, value) in extraMetadata ?? []) md.Set(key, value);
        w.Config.ToGguf(md);
        var names = w.Data.Keys.ToList();
        GgmlType TypeOf(string n) => w.Shapes[n].Length == 1 ? GgmlType.F32 : type;
        var specs = names.Select(n => new GgufTensorSpec(TensorNames.Convert(n, TensorNaming.Meta, TensorNaming.Gguf), TypeOf(n),
                                                         w.Shapes[n].Reverse().ToArray())).ToList(); // row-major → ne
        // Llama-3 scaling is no metadata key in llama.cpp: convert_hf_to_gguf stores the per-frequency factors.
        float[]? ropeFactors = w.Config.RopeScaling is { Type: RopeScalingType.Llama3 } ? w.Config.Llama3RopeFactors() : null;
        if (ropeFactors is not null) specs.Add(new GgufTensorSpec("rope_freqs.weight", GgmlType.F32, [ropeFactors.Length]));
        using var writer = GgufWriter.Create(path, md, specs);
        foreach (var n in names) writer.WriteTensor(TensorNames.Convert(n, TensorNaming.Meta, TensorNaming.Gguf), Encode(w.Data[n], TypeOf(n), w.Shapes[n][^1]));
        if (ropeFactors is not null) writer.WriteTensor("rope_freqs.weight", MemoryMarshal.AsBytes(ropeFactors.AsSpan()));
        writer.Commit();
    }

    /// <summary>Row-major floats in <paramref name="type"/> (rows of <paramref name="rowLength"/>; quantized types need whole blocks).</summary>
    public static byte[] Encode(float[] values, GgmlType type, long rowLength = 0)
    {
        if (rowLength == 0) rowLength = values.Length;
        long rows = values.Length / rowLength;
        var dst = new byte[Quantizer.TensorBytes(type, rows, rowLength)];
        if (Quantizer.Supports(type)) Quantizer.Quantize(type, values, dst, rows, rowLength);
        else GgmlQuantizer.Quantize(type, values, dst, rows, rowLength);
        return dst;
    }

    private static byte[] HfConfigJson(LlamaConfig c, SafetensorsDType dtype)
    {
        using var ms = new MemoryStream();
        using (var j = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            j.WriteStartObject();
            j.WriteStartArray("architectures"); j.WriteStringValue("LlamaForCausalLM"); j.WriteEndArray();
            j.WriteString("model_type", "llama");
            j.WriteNumber("hidden_size", c.Dim);
            j.WriteNumber("intermediate_size", c.FfnDim);
            j.WriteNumber("num_hidden_layers", c.NLayers);
            j.WriteNumber("num_attention_heads", c.NHeads);
            j.WriteNumber("num_key_value_heads", c.NKvHeads);
            j.WriteNumber("vocab_size", c.VocabSize);
            j.WriteNumber("max_position_embeddings", c.ContextLength);
            j.WriteNumber("rms_norm_eps", c.NormEps);
            j.WriteNumber("rope_theta", c.RopeTheta);
            j.WriteBoolean("tie_word_embeddings", c.TiedEmbeddings);
            if (c.RopeScaling is { Type: not RopeScalingType.None } rs)
            {
                j.WriteStartObject("rope_scaling");
                j.WriteString("rope_type", rs.Type == RopeScalingType.Linear ? "linear" : "llama3");
                j.WriteNumber("factor", rs.Factor);
                if (rs.Type == RopeScalingType.Llama3)
                {
                    j.WriteNumber("low_freq_factor", rs.LowFreqFactor);
                    j.WriteNumber("high_freq_factor", rs.HighFreqFactor);
                    j.WriteNumber("original_max_position_embeddings", rs.OriginalContextLength);
                }
                j.WriteEndObject();
            }
            j.WriteString("torch_dtype", dtype switch { SafetensorsDType.F16 => "float16", SafetensorsDType.BF16 => "bfloat16", _ => "float32" });
            j.WriteEndObject();
        }
        return ms.ToArray();
    }
}
