using System.Text.Json;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Training.Model;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Adapters;

/// <summary>
/// Imports a PEFT AdaptionPrompt adapter (peft/tuners/adaption_prompt) into a <see cref="PromptAdapter"/>. PEFT's
/// AdaptedAttention computes, on the last <c>adapter_layers</c> attention modules:
/// out = o_proj(attn(x)) + o_proj(adaption_gate · softmax_fp32(q·k_Pᵀ/√d) · v_P), with k_P = k_proj(adaption_prompt),
/// v_P = v_proj(adaption_prompt) (raw prompt, no norm, no rotary; GQA heads repeat_interleave'd), q the ROTATED query
/// (llama_compute_query_states applies apply_rotary_pos_emb), and the gate a raw scalar per layer. LLaMA's o_proj has
/// no bias, so that equals o_proj(attn + gate·prompt term): our Linear kind with <see cref="GateMode.PerLayerRaw"/>.
/// The weights are HF's, so the model must use <see cref="RopeLayout.HalfSplit"/> (enforced by RequiredLayout).
/// </summary>
public static class PeftAdaptionPrompt
{
    public const string LayerPrefix = "base_model.model.model.layers.";

    public static string PromptName(int layer) => $"{LayerPrefix}{layer}.self_attn.adaption_prompt";
    public static string GateName(int layer) => $"{LayerPrefix}{layer}.self_attn.adaption_gate";

    /// <summary>Reads <c>adapter_config.json</c> text: adapter_len → L, adapter_layers → K, target_modules must be self_attn.</summary>
    public static AdapterConfig ParseConfig(string json, string origin, int nLayers)
    {
        JsonElement root;
        try { root = JsonDocument.Parse(json).RootElement; }
        catch (JsonException e) { throw new BadInputException($"{origin}: not valid JSON ({e.Message})", e); }
        if (root.ValueKind != JsonValueKind.Object) throw new BadInputException($"{origin}: expected a JSON object");

        if (root.TryGetProperty("peft_type", out var type) && type.GetString() != "ADAPTION_PROMPT")
            throw new BadInputException($"{origin}: peft_type is '{type}', expected 'ADAPTION_PROMPT'");
        int len = RequireInt(root, "adapter_len", origin, 1, int.MaxValue);
        int layers = RequireInt(root, "adapter_layers", origin, 1, nLayers);
        if (root.TryGetProperty("target_modules", out var target) && target.ValueKind != JsonValueKind.Null
            && !(target.ValueKind == JsonValueKind.String && target.GetString() == "self_attn"))
            throw new BadInputException($"{origin}: target_modules is {target.GetRawText()}, expected \"self_attn\" (the LLaMA attention module)");
        return new AdapterConfig(AdapterKind.Linear, PromptLength: len, Layers: layers, Gate: GateMode.PerLayerRaw);
    }

    /// <summary>
    /// Builds the adapter from the safetensors dictionary of adapter_model.safetensors. Trainables become float32
    /// (<paramref name="dtype"/>), like ours.
    /// </summary>
    public static PromptAdapter Import(LlamaConfig model, string configJson, IReadOnlyDictionary<string, Tensor> tensors,
        string origin, ScalarType dtype = ScalarType.Float32, Device? device = null)
    {
        var config = ParseConfig(configJson, origin + "/adapter_config.json", model.NLayers);
        int first = model.NLayers - config.Layers;
        // Tensors for other layers mean the config and the file disagree about K.
        foreach (var name in tensors.Keys)
            if (name.Contains(".adaption_") && LayerOf(name) is int l && l < first)
                throw new BadInputException($"{origin}: tensor '{name}' is for layer {l}, but adapter_layers={config.Layers} puts prompts on layers {first}..{model.NLayers - 1}");

        device ??= CPU;
        var prompts = new Tensor[config.Layers];
        var gates = new Tensor[config.Layers];
        for (int k = 0; k < config.Layers; k++)
        {
            prompts[k] = Require(tensors, PromptName(first + k), origin, [1, config.PromptLength, model.Dim]).reshape(config.PromptLength, model.Dim);
            gates[k] = Require(tensors, GateName(first + k), origin, [1]);
        }
        var p = stack(prompts).to(dtype, device);                       // [K, L, dim]
        var g = stack(gates).to(dtype, device);                         // [K, 1]
        return PromptAdapter.FromTensors(model, config, p, g, RopeLayout.HalfSplit);
    }

    private static Tensor Require(IReadOnlyDictionary<string, Tensor> tensors, string name, string origin, long[] shape)
    {
        if (!tensors.TryGetValue(name, out var t))
            throw new BadInputException($"{origin}: tensor '{name}' is missing (expected shape [{string.Join(", ", shape)}])");
        if (!t.shape.SequenceEqual(shape))
            throw new BadInputException($"{origin}: tensor '{name}' has shape [{string.Join(", ", t.shape)}], expected [{string.Join(", ", shape)}]");
        if (!t.is_floating_point())
            throw new BadInputException($"{origin}: tensor '{name}' has dtype {t.dtype}, expected a floating-point type");
        return t;
    }

    private static int? LayerOf(string name)
    {
        if (!name.StartsWith(LayerPrefix, StringComparison.Ordinal)) return null;
        int dot = name.IndexOf('.', LayerPrefix.Length);
        return dot > 0 && int.TryParse(name.AsSpan(LayerPrefix.Length, dot - LayerPrefix.Length), out int l) ? l : null;
    }

    private static int RequireInt(JsonElement root, string field, string origin, int min, int max)
    {
        if (!root.TryGetProperty(field, out var v) || v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out int n))
            throw new BadInputException($"{origin}: field '{field}' is missing or not an integer (expected {min}..{max})");
        if (n < min || n > max) throw new BadInputException($"{origin}: field '{field}' is {n}, expected {min}..{max}");
        return n;
    }
}
