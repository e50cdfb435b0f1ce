using System.Globalization;
using System.Runtime.InteropServices;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Training.Adapters;

namespace LlamaAdapter.Convert.Adapters;

/// <summary>
/// A trained adapter as <c>extract</c> writes it: safetensors with <c>adapter.prompts</c> [K, L, dim] or
/// <c>adapter.hyper.*</c>, <c>adapter.gates</c> [K, G], and the configuration in __metadata__ under <c>adapter.*</c>
/// (kind, prompt_length, layer_count, first_layer, gate_mode, hyper.*, base.*, base.wkv_sha256), the keys of
/// docs/adapter-gguf.md without their <c>llama_adapter.</c> prefix.
/// </summary>
public sealed record AdapterFile(string Path, AdapterConfig Config, IReadOnlyDictionary<string, string> Metadata,
                                 IReadOnlyDictionary<string, (long[] Shape, float[] Data)> Tensors)
{
    public static AdapterFile Load(string path)
    {
        if (!File.Exists(path)) throw new BadInputException($"{path}: no such file; expected an adapter .safetensors written by extract");
        using var r = SafetensorsReader.Open(path);
        var md = r.Metadata;
        string Get(string key) => md.TryGetValue(key, out var v) ? v
            : throw new BadInputException($"{path}: __metadata__ field '{key}' is missing (expected an adapter written by extract)");
        int Int(string key) => int.TryParse(Get(key), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= 0 ? v
            : throw new BadInputException($"{path}: __metadata__ field '{key}' is '{md[key]}'; expected a non-negative integer");
        T Enum<T>(string key) where T : struct, System.Enum
        {
            string s = Get(key);
            foreach (var e in System.Enum.GetValues<T>()) if (Snake(e.ToString()) == s) return e;
            throw new BadInputException($"{path}: __metadata__ field '{key}' is '{s}'; expected one of {string.Join(", ", System.Enum.GetNames<T>().Select(Snake))}");
        }

        var kind = Enum<AdapterKind>("adapter.kind");
        var config = new AdapterConfig(kind, Int("adapter.prompt_length"), Int("adapter.layer_count"),
            kind == AdapterKind.Prefix ? GateMode.PerHeadTanh : Enum<GateMode>("adapter.gate_mode"));
        if (kind == AdapterKind.Nonlinear)
            config = config with
            {
                HyperEmbedDim = Int("adapter.hyper.embedding_length"), HyperHidden = Int("adapter.hyper.hidden_length"),
                HyperActivation = Enum<HyperActivation>("adapter.hyper.activation"),
            };

        var tensors = new Dictionary<string, (long[], float[])>(StringComparer.Ordinal);
        foreach (var t in r.Tensors)
        {
            var type = CheckpointTensors.FromSafetensors(t.DType, path, t.Name);
            long n = t.ElementCount, rowLength = t.Shape.Length == 0 ? 1 : t.Shape[^1];
            var f = new float[n];
            if (n > 0) TensorConversion.ToFloat(type, r.GetBytes(t.Name), f, n / rowLength, rowLength, 1);
            tensors[t.Name] = (t.Shape, f);
        }
        return new AdapterFile(path, config, md, tensors);
    }

    /// <summary>PerHeadTanh → per_head_tanh, LeakyRelu → leaky_relu.</summary>
    public static string Snake(string pascal) =>
        string.Concat(pascal.Select((ch, i) => char.IsUpper(ch) ? (i > 0 ? "_" : "") + char.ToLowerInvariant(ch) : ch.ToString()));

    public static ReadOnlySpan<byte> Bytes(float[] f) => MemoryMarshal.AsBytes(f.AsSpan());
}
