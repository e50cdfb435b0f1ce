using System.Security.Cryptography;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Training.Adapters;
using static TorchSharp.torch;

namespace LlamaAdapter.Convert.Adapters;

/// <summary>
/// A trained adapter plus its base model → the adapter GGUF of docs/adapter-gguf.md: per adapted block the prompts
/// (for nonlinear, the hypernetwork's output, computed here by <see cref="PromptAdapter"/>), their keys and values
/// through the block's own wk/wv (<see cref="GatedPromptAttention.PromptKeysValues"/>, in Meta/GGUF row order), the raw
/// gate, and the base's fingerprint. A base whose wk/wv fingerprint differs from the one the adapter was trained on
/// is refused.
/// </summary>
public static class AdapterConverter
{
    public const string AdapterType = "llama_adapter_prompt";

    /// <summary><paramref name="adapter"/>: an extract .safetensors, or a PEFT AdaptionPrompt directory (adapter_config.json + adapter_model.safetensors).</summary>
    public static void Convert(string adapter, string baseModel, string output, CancellationToken ct = default)
    {
        using var source = ModelConverter.OpenSource(baseModel);
        using var scope = NewDisposeScope();
        var (config, promptAdapter, raw, expectedSha, origin) = Directory.Exists(adapter) ? LoadPeft(adapter, source.Config) : LoadExtract(adapter, source.Config);
        Write(config, promptAdapter, raw, expectedSha, origin, source, output, ct);
    }

    private static (AdapterConfig, PromptAdapter, AdapterFile?, string?, string) LoadExtract(string path, LlamaConfig c) =>
        LoadExtract(AdapterFile.Load(path), c);

    /// <summary>Also used by <see cref="TorchAdapters"/>: the adapter (CPU, float32), its base fingerprint (adapter.base.wkv_sha256), shapes checked against <paramref name="c"/>.</summary>
    internal static (AdapterConfig, PromptAdapter, AdapterFile?, string?, string) LoadExtract(AdapterFile f, LlamaConfig c)
    {
        string path = f.Path;
        var a = f.Config;
        try { a.Validate(c.NLayers); }
        catch (ArgumentException e) { throw new BadInputException($"{path}: {e.Message}", e); }
        var md = f.Metadata;
        void Same(string key, int actual)
        {
            if (md.TryGetValue(key, out var v) && v != actual.ToString(System.Globalization.CultureInfo.InvariantCulture))
                throw new BadInputException($"{path}: __metadata__ '{key}' is {v}, but the base model has {actual}: the adapter was trained on another model shape");
        }
        Same("adapter.base.embedding_length", c.Dim);
        Same("adapter.base.block_count", c.NLayers);
        Same("adapter.base.head_count", c.NHeads);
        Same("adapter.base.head_count_kv", c.NKvHeads);
        Same("adapter.base.vocab_size", c.VocabSize);
        Same("adapter.first_layer", c.NLayers - a.Layers);
        string sha = md.TryGetValue("adapter.base.wkv_sha256", out var s) ? s
            : throw new BadInputException($"{path}: __metadata__ field 'adapter.base.wkv_sha256' is missing; without it the base model cannot be checked");

        Tensor Take(string name, params long[] shape)
        {
            if (!f.Tensors.TryGetValue(name, out var t))
                throw new BadInputException($"{path}: tensor '{name}' is missing (expected shape [{string.Join(", ", shape)}])");
            if (!t.Shape.SequenceEqual(shape))
                throw new BadInputException($"{path}: tensor '{name}' has shape [{string.Join(", ", t.Shape)}], expected [{string.Join(", ", shape)}]");
            return tensor(t.Data, shape);
        }
        Tensor? gates = a.Kind == AdapterKind.Prefix ? null : Take("adapter.gates", a.Layers, PromptAdapter.GateWidth(c, a));
        PromptAdapter adapter;
        if (a.Kind == AdapterKind.Nonlinear)
        {
            adapter = PromptAdapter.Create(c, a);
            using var _ = no_grad();
            foreach (var (name, p) in adapter.named_parameters())
                p.copy_(Take("adapter." + name, p.shape));
        }
        else adapter = PromptAdapter.FromTensors(c, a, Take("adapter.prompts", a.Layers, a.PromptLength, c.Dim), gates);
        return (a, adapter, f, sha, path);
    }

    internal static (AdapterConfig, PromptAdapter, AdapterFile?, string?, string) LoadPeft(string dir, LlamaConfig c)
    {
        string configPath = Path.Combine(dir, "adapter_config.json"), weights = Path.Combine(dir, "adapter_model.safetensors");
        if (!File.Exists(configPath)) throw new BadInputException($"{dir}: adapter_config.json is missing; expected a PEFT AdaptionPrompt directory");
        if (!File.Exists(weights)) throw new BadInputException($"{dir}: adapter_model.safetensors is missing; expected a PEFT AdaptionPrompt directory");
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        using (var r = SafetensorsReader.Open(weights))
            foreach (var t in r.Tensors)
            {
                var type = CheckpointTensors.FromSafetensors(t.DType, weights, t.Name);
                long n = t.ElementCount, rowLength = t.Shape.Length == 0 ? 1 : t.Shape[^1];
                var f = new float[n];
                if (n > 0) TensorConversion.ToFloat(type, r.GetBytes(t.Name), f, n / rowLength, rowLength, 1);
                tensors[t.Name] = tensor(f, t.Shape);
            }
        var adapter = PeftAdaptionPrompt.Import(c, File.ReadAllText(configPath), tensors, dir);
        // PEFT keeps no fingerprint of its base: nothing to check against.
        return (adapter.Config, adapter, null, null, dir);
    }

    private static void Write(AdapterConfig a, PromptAdapter adapter, AdapterFile? file, string? expectedSha, string origin,
                              ICheckpointSource source, string output, CancellationToken ct)
    {
        var c = source.Config;
        int first = c.NLayers - a.Layers;
        var wk = new float[a.Layers][];
        var wv = new float[a.Layers][];
        string sha = WkvSha256(source, first, (k, key, value) => (wk[k], wv[k]) = (key, value), ct);
        if (expectedSha is not null && !string.Equals(sha, expectedSha, StringComparison.OrdinalIgnoreCase))
            throw new BadInputException($"{source.Path}: the base model's wk/wv fingerprint (layers {first}..{c.NLayers - 1}) is {sha}, " +
                                        $"but {origin} was trained on a base with {expectedSha}; convert it with that base model");

        var md = new GgufMetadata();
        void U32(string key, int v) => md.Set(key, GgufValue.Of((uint)v));
        md.Set("general.architecture", GgufValue.Of("llama"));
        md.Set("general.type", GgufValue.Of("adapter"));
        md.Set("adapter.type", GgufValue.Of(AdapterType));
        md.Set("llama_adapter.kind", GgufValue.Of(AdapterFile.Snake(a.Kind.ToString())));
        U32("llama_adapter.prompt_length", a.PromptLength);
        U32("llama_adapter.layer_count", a.Layers);
        U32("llama_adapter.first_layer", first);
        if (a.Kind != AdapterKind.Prefix) md.Set("llama_adapter.gate_mode", GgufValue.Of(AdapterFile.Snake(a.Gate.ToString())));
        if (a.Kind == AdapterKind.Nonlinear)
        {
            U32("llama_adapter.hyper.embedding_length", a.HyperEmbedDim);
            U32("llama_adapter.hyper.hidden_length", a.HyperHidden);
            md.Set("llama_adapter.hyper.activation", GgufValue.Of(AdapterFile.Snake(a.HyperActivation.ToString())));
        }
        U32("llama_adapter.base.embedding_length", c.Dim);
        U32("llama_adapter.base.block_count", c.NLayers);
        U32("llama_adapter.base.head_count", c.NHeads);
        U32("llama_adapter.base.head_count_kv", c.NKvHeads);
        U32("llama_adapter.base.vocab_size", c.VocabSize);
        md.Set("llama_adapter.base.wkv_sha256", GgufValue.Of(sha));

        // Everything the file holds, computed before the writer starts: K·L·(dim + 2·kv_dim) floats, small.
        var tensors = new List<(GgufTensorSpec Spec, float[] Data)>();
        using (no_grad())
        {
            var prompts = adapter.LayerPrompts(ScalarType.Float32);
            float[]? gates = null;
            int gateWidth = PromptAdapter.GateWidth(c, a);
            if (a.Kind != AdapterKind.Prefix)
            {
                var g = adapter.named_parameters().First(p => p.name == "gates").parameter;
                gates = g.detach().to(ScalarType.Float32).contiguous().data<float>().ToArray(); // raw, before tanh
            }
            for (int k = 0; k < a.Layers; k++)
            {
                var p = prompts[k].Prompt.contiguous();                                              // [L, dim]
                var (keys, values) = GatedPromptAttention.PromptKeysValues(
                    p, tensor(wk[k], c.KvDim, c.Dim), tensor(wv[k], c.KvDim, c.Dim), c.NKvHeads, nRep: 1); // [1, Hkv, L, d]
                float[] Rows(Tensor t) => t.transpose(1, 2).reshape(a.PromptLength, c.KvDim).contiguous().data<float>().ToArray(); // [L, kv_dim]
                string b = $"blk.{first + k}.";
                tensors.Add((new(b + "adapter_k", GgmlType.F32, [c.KvDim, a.PromptLength]), Rows(keys)));
                tensors.Add((new(b + "adapter_v", GgmlType.F32, [c.KvDim, a.PromptLength]), Rows(values)));
                if (gates is not null)
                    tensors.Add((new(b + "adapter_gate", GgmlType.F32, [gateWidth]), gates.AsSpan(k * gateWidth, gateWidth).ToArray()));
                tensors.Add((new(b + "adapter_prompt", GgmlType.F32, [c.Dim, a.PromptLength]), p.data<float>().ToArray()));
            }
        }
        if (a.Kind == AdapterKind.Nonlinear && file is not null)
            foreach (var name in new[] { "adapter.hyper.layer_embed", "adapter.hyper.linear1.weight", "adapter.hyper.linear1.bias", "adapter.hyper.prompt.weight", "adapter.hyper.prompt.bias" })
                if (file.Tensors.TryGetValue(name, out var t))
                    tensors.Add((new(name, GgmlType.F32, t.Shape.Reverse().ToArray()), t.Data));

        ct.ThrowIfCancellationRequested();
        try
        {
            using var writer = GgufWriter.Create(output, md, tensors.Select(t => t.Spec));
            foreach (var (spec, data) in tensors) writer.WriteTensor(spec.Name, AdapterFile.Bytes(data));
            writer.Commit();
        }
        catch (IOException e)
        {
            throw new BadInputException($"{output}: writing the adapter GGUF failed ({e.Message}); no output was written and the temporary file was removed", e);
        }
    }

    /// <summary>
    /// adapter.base.wkv_sha256 (docs/adapter-gguf.md): SHA-256 over the wk then wv of layers <paramref name="first"/>…
    /// as F32 in Meta row order, whatever the base's stored type. <paramref name="each"/> sees each layer's (k from 0).
    /// </summary>
    internal static string WkvSha256(ICheckpointSource source, int first, Action<int, float[], float[]>? each = null, CancellationToken ct = default)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (int l = first; l < source.Config.NLayers; l++)
        {
            ct.ThrowIfCancellationRequested();
            var wk = ReadF32(source, new LlamaTensorId(LlamaTensor.AttnK, l));
            var wv = ReadF32(source, new LlamaTensorId(LlamaTensor.AttnV, l));
            hash.AppendData(AdapterFile.Bytes(wk));
            hash.AppendData(AdapterFile.Bytes(wv));
            each?.Invoke(l - first, wk, wv);
        }
        return System.Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>A base tensor as F32 in Meta/GGUF row order (HF wk un-permuted), whatever its stored type.</summary>
    private static float[] ReadF32(ICheckpointSource source, LlamaTensorId id)
    {
        var t = source.Tensors.First(x => x.Id == id);
        using var ms = new MemoryStream();
        TensorConversion.Write(source.Bytes(t), t, GgmlType.F32, ms, new ConvertOptions(OutputType.F32), CancellationToken.None);
        var f = new float[t.Rows * t.RowLength];
        Buffer.BlockCopy(ms.GetBuffer(), 0, f, 0, f.Length * 4);
        return f;
    }
}
