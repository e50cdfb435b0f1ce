namespace LlamaAdapter.Core.Config;

public sealed partial record LlamaConfig
{
    /// <summary>
    /// Reads a transformers <c>config.json</c> of a LLaMA model. Absent optional fields take transformers'
    /// LlamaConfig defaults (rms_norm_eps 1e-6, max_position_embeddings 2048, rope_theta 10000, untied embeddings).
    /// </summary>
    public static LlamaConfig FromHfConfig(string path)
    {
        var f = JsonFields.Load(path, out var doc);
        using (doc)
        {
            string? modelType = f.StringOrNull("model_type");
            var arch = f.Get("architectures");
            bool llamaArch = arch is { ValueKind: System.Text.Json.JsonValueKind.Array } a
                             && a.EnumerateArray().Any(x => x.ValueKind == System.Text.Json.JsonValueKind.String && x.GetString() == "LlamaForCausalLM");
            if (modelType != "llama" && !(modelType is null && llamaArch))
                throw f.Bad("model_type", "\"llama\" (or architectures [\"LlamaForCausalLM\"])", f.Get("model_type") ?? f.Get("architectures"));

            int dim = f.Int("hidden_size"), heads = f.Int("num_attention_heads");
            if (f.IntOrNull("head_dim") is { } hd && heads > 0 && hd * heads != dim)
                throw f.Bad("head_dim", $"hidden_size / num_attention_heads = {dim / heads} (a separate head_dim is not supported)", f.Get("head_dim"));

            return new LlamaConfig(
                Dim: dim,
                NLayers: f.Int("num_hidden_layers"),
                NHeads: heads,
                NKvHeads: f.IntOrNull("num_key_value_heads") ?? heads,
                FfnDim: f.Int("intermediate_size"),
                VocabSize: f.Int("vocab_size"),
                RopeTheta: f.DoubleOrNull("rope_theta") ?? 10000.0,
                RopeScaling: HfRopeScaling(f),
                NormEps: f.DoubleOrNull("rms_norm_eps") ?? 1e-6,
                ContextLength: f.IntOrNull("max_position_embeddings") ?? 2048,
                TiedEmbeddings: f.BoolOrNull("tie_word_embeddings") ?? false).ValidatedFrom(path);
        }
    }

    // rope_scaling: null, {"type"|"rope_type": "linear", "factor"} or {"rope_type": "llama3", "factor",
    // "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}.
    private static RopeScaling? HfRopeScaling(JsonFields f)
    {
        if (f.ObjectOrNull("rope_scaling") is not { } s) return null;
        string? type = s.StringOrNull("rope_type") ?? s.StringOrNull("type");
        double Factor() => s.DoubleOrNull("factor") is { } x && x > 0 ? x : throw s.Bad("rope_scaling.factor", "a positive number", s.Get("factor"));
        return type switch
        {
            "default" => null,
            "linear" => new RopeScaling(RopeScalingType.Linear, Factor()),
            "llama3" => new RopeScaling(RopeScalingType.Llama3, Factor(),
                LowFreqFactor: s.DoubleOrNull("low_freq_factor") ?? throw s.Bad("rope_scaling.low_freq_factor", "a number"),
                HighFreqFactor: s.DoubleOrNull("high_freq_factor") ?? throw s.Bad("rope_scaling.high_freq_factor", "a number"),
                OriginalContextLength: s.IntOrNull("original_max_position_embeddings") ?? throw s.Bad("rope_scaling.original_max_position_embeddings", "an integer")),
            _ => throw s.Bad("rope_scaling.rope_type", "\"linear\", \"llama3\" or \"default\" (other scalings are not supported)", s.Get("rope_type") ?? s.Get("type")),
        };
    }
}
