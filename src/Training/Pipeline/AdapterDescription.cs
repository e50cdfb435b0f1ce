using System.Globalization;
using LlamaAdapter.Core;
using System.Security.Cryptography;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Model;

namespace LlamaAdapter.Training.Pipeline;

/// <summary>
/// An <see cref="AdapterConfig"/> and the base it sits on as the string map a checkpoint and an extracted adapter
/// carry; the extractor prefixes the keys with <c>adapter.</c>, so they read as docs/adapter-gguf.md's
/// <c>llama_adapter.*</c> keys (kind, prompt_length, layer_count, first_layer, gate_mode, hyper.*, base.*).
/// </summary>
public static class AdapterDescription
{
    public static IReadOnlyDictionary<string, string> Describe(LlamaModel model, AdapterConfig a)
    {
        var c = model.Config;
        string I(int v) => v.ToString(CultureInfo.InvariantCulture);
        var d = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["kind"] = a.Kind.ToString().ToLowerInvariant(),
            ["prompt_length"] = I(a.PromptLength),
            ["layer_count"] = I(a.Layers),
            ["first_layer"] = I(c.NLayers - a.Layers),
            ["base.embedding_length"] = I(c.Dim),
            ["base.block_count"] = I(c.NLayers),
            ["base.head_count"] = I(c.NHeads),
            ["base.head_count_kv"] = I(c.NKvHeads),
            ["base.vocab_size"] = I(c.VocabSize),
            ["base.wkv_sha256"] = WkvSha256(model, c.NLayers - a.Layers),
        };
        if (a.Kind != AdapterKind.Prefix) d["gate_mode"] = Snake(a.Gate.ToString());
        if (a.Kind == AdapterKind.Nonlinear)
        {
            d["hyper.embedding_length"] = I(a.HyperEmbedDim);
            d["hyper.hidden_length"] = I(a.HyperHidden);
            d["hyper.activation"] = Snake(a.HyperActivation.ToString());
        }
        return d;
    }

    /// <summary>The adapter configuration a description names; <paramref name="source"/> is the file, for errors.</summary>
    public static AdapterConfig Parse(IReadOnlyDictionary<string, string> d, string source)
    {
        string Get(string key) => d.TryGetValue(key, out var v) ? v : throw new BadInputException($"{source}: adapter field '{key}' is missing");
        int Int(string key) => int.TryParse(Get(key), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= 0 ? v
            : throw new BadInputException($"{source}: adapter field '{key}' is '{d[key]}'; expected a non-negative integer");
        T Enum<T>(string key) where T : struct, System.Enum =>
            System.Enum.GetValues<T>().FirstOrDefault(e => Snake(e.ToString()) == Get(key)) is var v && Snake(v.ToString()) == Get(key) ? v
            : throw new BadInputException($"{source}: adapter field '{key}' is '{d[key]}'; expected one of {string.Join(", ", System.Enum.GetNames<T>().Select(Snake))}");

        var kind = Enum<AdapterKind>("kind");
        var c = new AdapterConfig(kind, Int("prompt_length"), Int("layer_count"), kind == AdapterKind.Prefix ? GateMode.PerHeadTanh : Enum<GateMode>("gate_mode"));
        if (kind == AdapterKind.Nonlinear)
            c = c with { HyperEmbedDim = Int("hyper.embedding_length"), HyperHidden = Int("hyper.hidden_length"), HyperActivation = Enum<HyperActivation>("hyper.activation") };
        return c;
    }

    /// <summary>PerHeadTanh → per_head_tanh, LeakyRelu → leaky_relu, Linear → linear.</summary>
    public static string Snake(string pascal) =>
        string.Concat(pascal.Select((ch, i) => char.IsUpper(ch) ? (i > 0 ? "_" : "") + char.ToLowerInvariant(ch) : ch.ToString()));

    /// <summary>
    /// docs/adapter-gguf.md's base check: hex SHA-256 over the adapted layers' wk then wv weights as F32
    /// little-endian in Meta/GGUF row order, layer by layer. A model loaded with the HF rotary layout holds wk rows
    /// half-split; they are put back in Meta order first, so every format of one model gives the same hash.
    /// </summary>
    public static string WkvSha256(LlamaModel model, int firstLayer)
    {
        var c = model.Config;
        var named = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (int i = firstLayer; i < c.NLayers; i++)
            foreach (var w in new[] { "wk", "wv" })
            {
                string name = $"layers.{i}.attention.{w}.weight";
                var p = named.TryGetValue(name, out var t) ? t : throw new ArgumentException($"model has no parameter {name}");
                using var f = p.detach().cpu().to_type(TorchSharp.torch.ScalarType.Float32).contiguous();
                byte[] bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(f.data<float>().ToArray().AsSpan()).ToArray();
                if (w == "wk" && model.Options.Layout == RopeLayout.HalfSplit) bytes = RotaryPermutation.HfToMeta(bytes, c.KvDim, c.NKvHeads);
                hash.AppendData(bytes);
            }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>
    /// The gates of a <see cref="LlamaModel"/>'s adapter per absolute layer (raw, before tanh), for the metrics log:
    /// <c>adapter.gates</c> [K, G], row k is layer n_layers − K + k.
    /// </summary>
    public static Func<IReadOnlyDictionary<int, float[]>>? GateReader(LlamaModel model)
    {
        var gates = model.named_parameters().Where(p => p.name == "adapter.gates").Select(p => p.parameter).FirstOrDefault();
        if (gates is null || model.Adapter is not { } adapter) return null;
        return () =>
        {
            using var c = gates.detach().cpu().to_type(TorchSharp.torch.ScalarType.Float32).contiguous();
            var all = c.data<float>().ToArray();
            int k = (int)c.shape[0], g = (int)c.shape[1];
            return Enumerable.Range(0, k).ToDictionary(i => adapter.FirstLayer + i, i => all.AsSpan(i * g, g).ToArray());
        };
    }
}
