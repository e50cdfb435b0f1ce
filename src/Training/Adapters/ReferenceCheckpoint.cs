using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Adapters;

/// <summary>
/// Reads the adapter tensors of the paper's code (NL alpaca_finetuning_v1/extract_adapter_from_checkpoint.py output,
/// once converted from .pth to a name → tensor dictionary): <c>adapter_query.weight</c> [K·L, dim] (linear / prefix)
/// or <c>hyperAdapter.layer_embed.weight</c>, <c>hyperAdapter.decoder.{linear1,prompt}.{weight,bias}</c>
/// (non-linear), and <c>layers.{i}.attention.gate</c> [1, H, 1, 1] for every layer, raw (no tanh applied).
/// K and L are inferred as NL example.py:85-100 does unless given: linear K = rows / L with L = 10; non-linear
/// K = layer_embed rows − 2 (hard-coded there), L = prompt rows / dim, hidden = linear1 rows (0 when absent).
/// The activation is not stored in the file; the paper's is ReLU.
/// </summary>
public static class ReferenceCheckpoint
{
    public static PromptAdapter Import(LlamaConfig model, IReadOnlyDictionary<string, Tensor> tensors, string origin,
        GateMode gate = GateMode.PerHeadTanh, bool prefix = false, int? layers = null, int promptLength = 10,
        HyperActivation activation = HyperActivation.Relu)
    {
        bool hyper = tensors.ContainsKey("hyperAdapter.layer_embed.weight");
        if (hyper && prefix) throw new ArgumentException($"{origin}: a hypernetwork checkpoint cannot be read as the prefix baseline");
        AdapterConfig config;
        Tensor? prompts = null;
        if (hyper)
        {
            var embed = Require(tensors, "hyperAdapter.layer_embed.weight", origin, null, 64);
            if (embed.shape[0] != model.NLayers)
                throw new BadInputException($"{origin}: 'hyperAdapter.layer_embed.weight' has {embed.shape[0]} rows, expected n_layers = {model.NLayers}");
            int k = layers ?? model.NLayers - 2;
            tensors.TryGetValue("hyperAdapter.decoder.linear1.bias", out var b1);
            int hidden = b1 is null ? 0 : (int)b1.shape[0];
            var w2 = Require(tensors, "hyperAdapter.decoder.prompt.weight", origin, null, hidden == 0 ? 64 : hidden);
            if (w2.shape[0] % model.Dim != 0)
                throw new BadInputException($"{origin}: 'hyperAdapter.decoder.prompt.weight' has {w2.shape[0]} rows, expected a multiple of dim = {model.Dim}");
            config = new AdapterConfig(AdapterKind.Nonlinear, (int)(w2.shape[0] / model.Dim), k, gate, 64, hidden, activation);
        }
        else
        {
            var q = Require(tensors, "adapter_query.weight", origin, null, model.Dim);
            if (q.shape[0] % promptLength != 0)
                throw new BadInputException($"{origin}: 'adapter_query.weight' has {q.shape[0]} rows, expected a multiple of adapter_len = {promptLength}");
            int k = layers ?? (int)(q.shape[0] / promptLength);
            if (q.shape[0] != (long)k * promptLength)
                throw new BadInputException($"{origin}: 'adapter_query.weight' has {q.shape[0]} rows, expected K·L = {k}·{promptLength}");
            config = new AdapterConfig(prefix ? AdapterKind.Prefix : AdapterKind.Linear, promptLength, k, gate);
            prompts = q.reshape(k, promptLength, model.Dim);
        }
        if (config.Layers < 1 || config.Layers > model.NLayers)
            throw new BadInputException($"{origin}: adapter layers K = {config.Layers}, expected 1..{model.NLayers}");

        // Gates of the last K layers, [1, H, 1, 1] each → [K, H].
        int first = model.NLayers - config.Layers;
        Tensor? gates = prefix ? null : stack(Enumerable.Range(first, config.Layers)
            .Select(i => Require(tensors, $"layers.{i}.attention.gate", origin, [1, model.NHeads, 1, 1]).reshape(model.NHeads)));
        if (gates is not null && gate == GateMode.PerLayerRaw)
            throw new ArgumentException($"{origin}: the reference's gates are per head; use PerHeadTanh or PerHeadRaw");

        if (!hyper) return PromptAdapter.FromTensors(model, config, prompts!.to(ScalarType.Float32), gates?.to(ScalarType.Float32));

        var adapter = PromptAdapter.Create(model, config);
        var ours = adapter.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        using (no_grad())
        {
            ours["hyper.layer_embed"].copy_(tensors["hyperAdapter.layer_embed.weight"]);
            if (config.HyperHidden > 0)
            {
                ours["hyper.linear1.weight"].copy_(Require(tensors, "hyperAdapter.decoder.linear1.weight", origin, [config.HyperHidden, 64]));
                ours["hyper.linear1.bias"].copy_(tensors["hyperAdapter.decoder.linear1.bias"]);
            }
            ours["hyper.prompt.weight"].copy_(tensors["hyperAdapter.decoder.prompt.weight"]);
            ours["hyper.prompt.bias"].copy_(Require(tensors, "hyperAdapter.decoder.prompt.bias", origin, [(long)config.PromptLength * model.Dim]));
            ours["gates"].copy_(gates!);
        }
        return adapter;
    }

    /// <summary>The tensor, checked: full <paramref name="shape"/>, or (shape null) 2-D with <paramref name="cols"/> columns.</summary>
    private static Tensor Require(IReadOnlyDictionary<string, Tensor> tensors, string name, string origin, long[]? shape, long cols = 0)
    {
        string expected = shape is null ? $"[*, {cols}]" : $"[{string.Join(", ", shape)}]";
        if (!tensors.TryGetValue(name, out var t))
            throw new BadInputException($"{origin}: tensor '{name}' is missing (expected shape {expected})");
        bool ok = shape is null ? t.dim() == 2 && t.shape[1] == cols : t.shape.SequenceEqual(shape);
        if (!ok) throw new BadInputException($"{origin}: tensor '{name}' has shape [{string.Join(", ", t.shape)}], expected {expected}");
        if (!t.is_floating_point()) throw new BadInputException($"{origin}: tensor '{name}' has dtype {t.dtype}, expected a floating-point type");
        return t;
    }
}
