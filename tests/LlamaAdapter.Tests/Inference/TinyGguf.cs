using System.Runtime.InteropServices;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tensors;
using LlamaAdapter.Tests.Model;
using LlamaAdapter.Training.Adapters;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Inference;

/// <summary>Writes test GGUFs: a <see cref="TinyLlama"/> as a llama.cpp model file, and an adapter file per docs/adapter-gguf.md.</summary>
internal static class TinyGguf
{
    /// <summary>
    /// tiny.gguf in <paramref name="dir"/>, and for a <paramref name="kind"/> an adapter.gguf beside it: L=5 prompts on
    /// the last 2 layers, perturbed so the gated branch is not a no-op (zero gates would hide a broken graph).
    /// </summary>
    public static (string Model, string? Adapter) WriteModelAndAdapter(TinyLlama tiny, string dir, AdapterKind? kind)
    {
        string modelPath = Path.Combine(dir, "tiny.gguf"), adapterPath = Path.Combine(dir, "adapter.gguf");
        WriteModel(tiny, modelPath);
        if (kind is not { } k) return (modelPath, null);
        using var reference = tiny.Build();
        var adapter = reference.AttachNewAdapter(new AdapterConfig(k, PromptLength: 5, Layers: 2), new TorchSharp.torch.Generator(5));
        AdapterReference.Perturb(adapter);
        WriteAdapter(tiny, adapter, adapterPath);
        return (modelPath, adapterPath);
    }

    /// <summary>Matrices in <paramref name="matrixType"/> (F32, F16, Q8_0, ...), vectors F32, as llama.cpp writes them.</summary>
    public static void WriteModel(TinyLlama tiny, string path, GgmlType matrixType = GgmlType.F32,
        Func<string, long[], long[]>? shapeOverride = null, Func<string, GgmlType, GgmlType>? typeOverride = null,
        GgufMetadata? tokenizer = null)
    {
        var md = new GgufMetadata();
        foreach (var (key, value) in tokenizer ?? []) md.Set(key, value);
        tiny.Config.ToGguf(md);
        var tensors = new List<(GgufTensorSpec Spec, byte[] Bytes)>();
        foreach (var (meta, values) in tiny.Data)
        {
            long[] shape = tiny.Shapes[meta];                          // Meta [rows, cols] → ggml ne [cols, rows]
            long[] ne = shape.Reverse().ToArray();
            string name = TensorNames.Convert(meta, TensorNaming.Meta, TensorNaming.Gguf);
            GgmlType type = shape.Length == 1 ? GgmlType.F32 : matrixType;
            type = typeOverride?.Invoke(name, type) ?? type;
            long rowLength = ne[0], rows = values.Length / rowLength;
            var bytes = Encode(type, values, rows, rowLength);
            tensors.Add((new GgufTensorSpec(name, type, shapeOverride?.Invoke(name, ne) ?? ne), bytes));
        }
        Write(path, md, tensors);
    }

    /// <summary>
    /// The adapter attached to <paramref name="tiny"/>'s model, as the converter writes it: K_p = P·wkᵀ, V_p = P·wvᵀ
    /// (computed here in double from the base weights), raw gates, the prompts for provenance.
    /// </summary>
    public static void WriteAdapter(TinyLlama tiny, PromptAdapter adapter, string path)
    {
        var c = tiny.Config;
        var cfg = adapter.Config;
        var md = new GgufMetadata();
        md.Set("general.architecture", GgufValue.Of("llama"));
        md.Set("general.type", GgufValue.Of("adapter"));
        md.Set("adapter.type", GgufValue.Of("llama_adapter_prompt"));
        md.Set("llama_adapter.kind", GgufValue.Of(cfg.Kind.ToString().ToLowerInvariant()));
        md.Set("llama_adapter.prompt_length", GgufValue.Of((uint)cfg.PromptLength));
        md.Set("llama_adapter.layer_count", GgufValue.Of((uint)cfg.Layers));
        md.Set("llama_adapter.first_layer", GgufValue.Of((uint)adapter.FirstLayer));
        if (cfg.Kind != AdapterKind.Prefix)
            md.Set("llama_adapter.gate_mode", GgufValue.Of(cfg.Gate switch
            {
                GateMode.PerHeadTanh => "per_head_tanh", GateMode.PerHeadRaw => "per_head_raw", _ => "per_layer_raw",
            }));
        md.Set("llama_adapter.base.embedding_length", GgufValue.Of((uint)c.Dim));
        md.Set("llama_adapter.base.block_count", GgufValue.Of((uint)c.NLayers));
        md.Set("llama_adapter.base.head_count", GgufValue.Of((uint)c.NHeads));
        md.Set("llama_adapter.base.head_count_kv", GgufValue.Of((uint)c.NKvHeads));
        md.Set("llama_adapter.base.vocab_size", GgufValue.Of((uint)c.VocabSize));

        int len = cfg.PromptLength, dim = c.Dim, kv = c.KvDim;
        var layerPrompts = adapter.LayerPrompts(ScalarType.Float32);
        double[]? rawGates = cfg.Kind == AdapterKind.Prefix ? null
            : AdapterReference.D(adapter.named_parameters().Single(p => p.name == "gates").parameter);
        var tensors = new List<(GgufTensorSpec, byte[])>();
        for (int k = 0; k < cfg.Layers; k++)
        {
            int layer = adapter.FirstLayer + k;
            double[] p = AdapterReference.D(layerPrompts[k].Prompt);  // [L, dim]
            float[] Project(string w)
            {
                float[] wt = tiny.Data[$"layers.{layer}.attention.{w}.weight"]; // [kv, dim]
                var o = new float[len * kv];
                for (int j = 0; j < len; j++)
                    for (int r = 0; r < kv; r++)
                    {
                        double s = 0;
                        for (int e = 0; e < dim; e++) s += wt[r * dim + e] * p[j * dim + e];
                        o[j * kv + r] = (float)s;
                    }
                return o;
            }
            string b = $"blk.{layer}.";
            tensors.Add((new GgufTensorSpec(b + "adapter_k", GgmlType.F32, [kv, len]), Bytes(Project("wk"))));
            tensors.Add((new GgufTensorSpec(b + "adapter_v", GgmlType.F32, [kv, len]), Bytes(Project("wv"))));
            if (rawGates is not null)
            {
                int g = rawGates.Length / cfg.Layers;
                tensors.Add((new GgufTensorSpec(b + "adapter_gate", GgmlType.F32, [g]),
                    Bytes(rawGates.Skip(k * g).Take(g).Select(x => (float)x).ToArray())));
            }
            tensors.Add((new GgufTensorSpec(b + "adapter_prompt", GgmlType.F32, [dim, len]), Bytes(p.Select(x => (float)x).ToArray())));
        }
        Write(path, md, tensors);
    }

    /// <summary>Our quantizer where it has the type, ggml's (K-quants, ...) otherwise.</summary>
    public static byte[] Encode(GgmlType type, float[] values, long rows, long rowLength)
    {
        var bytes = new byte[Quantizer.TensorBytes(type, rows, rowLength)];
        if (Quantizer.Supports(type)) Quantizer.Quantize(type, values, bytes, rows, rowLength);
        else GgmlQuantizer.Quantize(type, values, bytes, rows, rowLength);
        return bytes;
    }

    public static float[] Decode(GgmlType type, byte[] bytes, long rows, long rowLength)
    {
        var values = new float[rows * rowLength];
        if (Quantizer.Supports(type)) Quantizer.Dequantize(type, bytes, values, rows, rowLength);
        else GgmlQuantizer.Dequantize(type, bytes, values, rows, rowLength);
        return values;
    }

    private static byte[] Bytes(float[] v) => MemoryMarshal.AsBytes(v.AsSpan()).ToArray();

    private static void Write(string path, GgufMetadata md, List<(GgufTensorSpec Spec, byte[] Bytes)> tensors)
    {
        using var w = GgufWriter.Create(path, md, tensors.Select(t => t.Spec));
        foreach (var (spec, bytes) in tensors) w.WriteTensor(spec.Name, bytes);
        w.Commit();
    }
}
