using System.Globalization;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Model;

namespace LlamaAdapter.Training.Pipeline;

/// <summary>
/// An <see cref="AdapterConfig"/> as the string map a checkpoint and an extracted adapter carry (the extractor
/// prefixes the keys with <c>adapter.</c>), with the base shape it was made for; and back.
/// </summary>
public static class AdapterDescription
{
    public static IReadOnlyDictionary<string, string> Describe(LlamaConfig model, AdapterConfig a)
    {
        string I(int v) => v.ToString(CultureInfo.InvariantCulture);
        var d = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["kind"] = a.Kind.ToString().ToLowerInvariant(),
            ["prompt_len"] = I(a.PromptLength),
            ["layers"] = I(a.Layers),
            ["first_layer"] = I(model.NLayers - a.Layers),
            ["gate"] = a.Kind == AdapterKind.Prefix ? "none" : a.Gate.ToString(),
            ["n_layers"] = I(model.NLayers),
            ["dim"] = I(model.Dim),
            ["n_heads"] = I(model.NHeads),
        };
        if (a.Kind == AdapterKind.Nonlinear)
        {
            d["hyper_embed_dim"] = I(a.HyperEmbedDim);
            d["hyper_hidden"] = I(a.HyperHidden);
            d["hyper_activation"] = a.HyperActivation.ToString();
        }
        return d;
    }

    /// <summary>The adapter configuration a description names; <paramref name="source"/> is the file, for errors.</summary>
    public static AdapterConfig Parse(IReadOnlyDictionary<string, string> d, string source)
    {
        string Get(string key) => d.TryGetValue(key, out var v) ? v : throw new BadInputException($"{source}: adapter field '{key}' is missing");
        int Int(string key) => int.TryParse(Get(key), NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v >= 0 ? v
            : throw new BadInputException($"{source}: adapter field '{key}' is '{d[key]}'; expected a non-negative integer");
        T Enum<T>(string key) where T : struct, System.Enum => System.Enum.TryParse<T>(Get(key), ignoreCase: true, out var v) && System.Enum.IsDefined(v) ? v
            : throw new BadInputException($"{source}: adapter field '{key}' is '{d[key]}'; expected one of {string.Join(", ", System.Enum.GetNames<T>())}");

        var kind = Enum<AdapterKind>("kind");
        var c = new AdapterConfig(kind, Int("prompt_len"), Int("layers"), kind == AdapterKind.Prefix ? GateMode.PerHeadTanh : Enum<GateMode>("gate"));
        if (kind == AdapterKind.Nonlinear)
            c = c with { HyperEmbedDim = Int("hyper_embed_dim"), HyperHidden = Int("hyper_hidden"), HyperActivation = Enum<HyperActivation>("hyper_activation") };
        return c;
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
