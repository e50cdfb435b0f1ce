using System.Globalization;
using System.Text.RegularExpressions;

namespace LlamaAdapter.Core.Formats;

/// <summary>The three spellings of LLaMA tensor names: Meta's model.py, HF transformers, and llama.cpp's GGUF.</summary>
public enum TensorNaming { Meta, HuggingFace, Gguf }

/// <summary>What a LLaMA tensor is, independent of spelling.</summary>
public enum LlamaTensor
{
    TokenEmbedding, OutputNorm, Output,
    AttnNorm, AttnQ, AttnK, AttnV, AttnOut, FfnNorm, FfnGate, FfnUp, FfnDown,
    /// <summary>GGUF rope_freqs.weight: Llama-3.1 per-frequency scaling factors (llama.cpp divides the base frequencies by them).
    /// Meta and HF derive these from use_scaled_rope / rope_scaling instead of storing them.</summary>
    RopeFactors,
    /// <summary>Meta's rope.freqs and HF's …rotary_emb.inv_freq: precomputed inverse frequencies, a cache derived from
    /// rope_theta rather than a weight. Meta's own loader deletes it; converters drop it.</summary>
    RopeInverseFrequencies,
}

/// <summary>A tensor of a LLaMA model: its kind and block (-1 for tensors outside the blocks; HF inv_freq is per block).</summary>
public readonly record struct LlamaTensorId(LlamaTensor Kind, int Layer = -1)
{
    public bool IsPerLayer => Layer >= 0;
}

/// <summary>
/// Total maps between the spellings: every name is either recognised or refused with a message saying which
/// spelling was expected, and a tensor that has no counterpart in the target spelling is refused by name.
/// </summary>
public static partial class TensorNames
{
    // Per-block tensors: kind → (Meta suffix, HF suffix, GGUF suffix) after "layers.N.", "model.layers.N.", "blk.N.".
    private static readonly (LlamaTensor Kind, string Meta, string Hf, string Gguf)[] Block =
    [
        (LlamaTensor.AttnNorm, "attention_norm.weight", "input_layernorm.weight", "attn_norm.weight"),
        (LlamaTensor.AttnQ, "attention.wq.weight", "self_attn.q_proj.weight", "attn_q.weight"),
        (LlamaTensor.AttnK, "attention.wk.weight", "self_attn.k_proj.weight", "attn_k.weight"),
        (LlamaTensor.AttnV, "attention.wv.weight", "self_attn.v_proj.weight", "attn_v.weight"),
        (LlamaTensor.AttnOut, "attention.wo.weight", "self_attn.o_proj.weight", "attn_output.weight"),
        (LlamaTensor.FfnNorm, "ffn_norm.weight", "post_attention_layernorm.weight", "ffn_norm.weight"),
        (LlamaTensor.FfnGate, "feed_forward.w1.weight", "mlp.gate_proj.weight", "ffn_gate.weight"),
        (LlamaTensor.FfnUp, "feed_forward.w3.weight", "mlp.up_proj.weight", "ffn_up.weight"),
        (LlamaTensor.FfnDown, "feed_forward.w2.weight", "mlp.down_proj.weight", "ffn_down.weight"),
    ];

    // Tensors outside the blocks; null where the spelling has no such tensor.
    private static readonly (LlamaTensor Kind, string? Meta, string? Hf, string? Gguf)[] Global =
    [
        (LlamaTensor.TokenEmbedding, "tok_embeddings.weight", "model.embed_tokens.weight", "token_embd.weight"),
        (LlamaTensor.OutputNorm, "norm.weight", "model.norm.weight", "output_norm.weight"),
        (LlamaTensor.Output, "output.weight", "lm_head.weight", "output.weight"),
        (LlamaTensor.RopeFactors, null, null, "rope_freqs.weight"),
        (LlamaTensor.RopeInverseFrequencies, "rope.freqs", null, null),
    ];

    private const string HfInvFreq = "self_attn.rotary_emb.inv_freq";

    [GeneratedRegex(@"^(?:layers|model\.layers|blk)\.(0|[1-9][0-9]{0,5})\.(.+)$", RegexOptions.CultureInvariant)]
    private static partial Regex BlockName();

    public static bool TryParse(string name, TensorNaming naming, out LlamaTensorId id)
    {
        id = default;
        foreach (var g in Global)
            if (Pick(g.Meta, g.Hf, g.Gguf, naming) == name) { id = new(g.Kind); return true; }
        var m = BlockName().Match(name);
        if (!m.Success) return false;
        string prefix = name[..name.IndexOf('.')];
        string expectedPrefix = naming switch { TensorNaming.Meta => "layers", TensorNaming.HuggingFace => "model", _ => "blk" };
        if (prefix != expectedPrefix) return false;
        int layer = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        string suffix = m.Groups[2].Value;
        foreach (var b in Block)
            if (Pick(b.Meta, b.Hf, b.Gguf, naming) == suffix) { id = new(b.Kind, layer); return true; }
        if (naming == TensorNaming.HuggingFace && suffix == HfInvFreq) { id = new(LlamaTensor.RopeInverseFrequencies, layer); return true; }
        return false;
    }

    /// <summary>Recognises <paramref name="name"/> in <paramref name="naming"/> or throws a <see cref="BadInputException"/> naming it.</summary>
    public static LlamaTensorId Parse(string name, TensorNaming naming) =>
        TryParse(name, naming, out var id) ? id
        : throw new BadInputException($"tensor '{name}' is not a LLaMA tensor name in {naming} spelling; expected e.g. {Example(naming)}");

    /// <summary>The name of <paramref name="id"/> in <paramref name="naming"/>; throws when that spelling has no such tensor.</summary>
    public static string Format(LlamaTensorId id, TensorNaming naming)
    {
        if (id.IsPerLayer)
        {
            string prefix = naming switch { TensorNaming.Meta => "layers", TensorNaming.HuggingFace => "model.layers", _ => "blk" };
            foreach (var b in Block)
                if (b.Kind == id.Kind) return $"{prefix}.{id.Layer}.{Pick(b.Meta, b.Hf, b.Gguf, naming)}";
            if (id.Kind == LlamaTensor.RopeInverseFrequencies && naming == TensorNaming.HuggingFace) return $"{prefix}.{id.Layer}.{HfInvFreq}";
        }
        else
        {
            foreach (var g in Global)
                if (g.Kind == id.Kind && Pick(g.Meta, g.Hf, g.Gguf, naming) is { } n) return n;
        }
        throw new BadInputException(id.Kind switch
        {
            LlamaTensor.RopeInverseFrequencies => $"{id.Kind}{(id.IsPerLayer ? $" (layer {id.Layer})" : "")} is a cache derived from rope_theta, not a weight; it has no {naming} counterpart: drop it",
            LlamaTensor.RopeFactors => $"rope_freqs.weight (Llama-3.1 rope scaling factors) has no {naming} tensor: {naming} derives it from the config's rope scaling",
            _ => $"{id.Kind}{(id.IsPerLayer ? $" of layer {id.Layer}" : " (outside the blocks)")} has no {naming} name",
        });
    }

    /// <summary>Renames a tensor between spellings, e.g. Meta "layers.3.attention.wq.weight" → GGUF "blk.3.attn_q.weight".</summary>
    public static string Convert(string name, TensorNaming from, TensorNaming to)
    {
        var id = Parse(name, from);
        try { return Format(id, to); }
        catch (BadInputException e) { throw new BadInputException($"tensor '{name}' ({from}): {e.Message}", e); }
    }

    private static string? Pick(string? meta, string? hf, string? gguf, TensorNaming naming) =>
        naming switch { TensorNaming.Meta => meta, TensorNaming.HuggingFace => hf, _ => gguf };

    private static string Example(TensorNaming naming) => naming switch
    {
        TensorNaming.Meta => "'tok_embeddings.weight', 'layers.0.attention.wq.weight', 'norm.weight', 'output.weight'",
        TensorNaming.HuggingFace => "'model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.norm.weight', 'lm_head.weight'",
        _ => "'token_embd.weight', 'blk.0.attn_q.weight', 'output_norm.weight', 'output.weight'",
    };
}
