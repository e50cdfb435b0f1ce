using System.Globalization;
using LlamaAdapter.Core.Formats.Gguf;

namespace LlamaAdapter.Core.Config;

public sealed partial record LlamaConfig
{
    /// <summary>
    /// Reads the llama.* hyper-parameters of GGUF metadata. Two things GGUF keeps outside the metadata are left
    /// to the caller: Llama-3 rope scaling (llama.cpp stores it as the rope_freqs.weight tensor) and tied
    /// embeddings (the absence of output.weight).
    /// </summary>
    public static LlamaConfig FromGguf(GgufMetadata md)
    {
        string src = md.Source ?? "GGUF metadata";
        BadInputException Bad(string key, string expected, GgufValue? found = null) =>
            new($"{src}: metadata '{key}': expected {expected}{(found is null ? " (missing)" : $", found {found.Type} {found}")}");

        string arch = md.TryGetValue("general.architecture", out var a) && a.Type == GgufValueType.String ? a.AsString()
            : throw Bad("general.architecture", "the string \"llama\"", a);
        if (arch != "llama") throw Bad("general.architecture", "\"llama\"", a);

        long? IntOrNull(string key)
        {
            if (!md.TryGetValue(key, out var v)) return null;
            try { return v.IsArray ? throw new InvalidDataException() : v.AsInt64(); }
            catch (InvalidDataException) { throw Bad(key, "an integer", v); }
        }
        int Int(string key) => IntOrNull(key) is { } x && x is > 0 and <= int.MaxValue ? (int)x
            : throw Bad(key, "a positive 32-bit integer", md.TryGetValue(key, out var v) ? v : null);
        double? NumOrNull(string key)
        {
            if (!md.TryGetValue(key, out var v)) return null;
            if (v.IsArray || v.Type is GgufValueType.String or GgufValueType.Bool) throw Bad(key, "a number", v);
            // A float32 field reads back as its shortest decimal (1e-5, not 9.99999974738e-06), as written.
            return v.Raw is float f ? double.Parse(f.ToString("R", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) : v.AsDouble();
        }

        int heads = Int("llama.attention.head_count");
        int dim = Int("llama.embedding_length");
        int vocab = IntOrNull("llama.vocab_size") is not null ? Int("llama.vocab_size")
            : md.TryGetValue("tokenizer.ggml.tokens", out var toks) && toks.IsArray ? toks.ArrayLength
            : throw Bad("llama.vocab_size", "an integer (or a tokenizer.ggml.tokens array to count)");
        if (IntOrNull("llama.rope.dimension_count") is { } rd && heads > 0 && rd != dim / heads)
            throw Bad("llama.rope.dimension_count", $"embedding_length / head_count = {dim / heads} (partial rotary is not supported)", md["llama.rope.dimension_count"]);

        RopeScaling? scaling = null;
        string scalingType = md.TryGetValue("llama.rope.scaling.type", out var st)
            ? st.Type == GgufValueType.String ? st.AsString() : throw Bad("llama.rope.scaling.type", "a string", st)
            : "none";
        switch (scalingType)
        {
            case "none": break;
            case "linear":
                double factor = NumOrNull("llama.rope.scaling.factor") is { } fa && fa > 0 ? fa
                    : throw Bad("llama.rope.scaling.factor", "a positive number", md.TryGetValue("llama.rope.scaling.factor", out var fv) ? fv : null);
                scaling = factor == 1.0 ? null : new RopeScaling(RopeScalingType.Linear, factor,
                    OriginalContextLength: IntOrNull("llama.rope.scaling.original_context_length") is { } o ? (int)o : 8192);
                break;
            default: throw Bad("llama.rope.scaling.type", "\"none\" or \"linear\" (other scalings are not supported)", st);
        }

        return new LlamaConfig(
            Dim: dim,
            NLayers: Int("llama.block_count"),
            NHeads: heads,
            NKvHeads: IntOrNull("llama.attention.head_count_kv") is not null ? Int("llama.attention.head_count_kv") : heads,
            FfnDim: Int("llama.feed_forward_length"),
            VocabSize: vocab,
            RopeTheta: NumOrNull("llama.rope.freq_base") ?? 10000.0,
            RopeScaling: scaling,
            NormEps: NumOrNull("llama.attention.layer_norm_rms_epsilon") ?? throw Bad("llama.attention.layer_norm_rms_epsilon", "a number"),
            ContextLength: Int("llama.context_length")).ValidatedFrom(src);
    }

    /// <summary>
    /// Writes the llama.* keys as llama.cpp's convert_hf_to_gguf does (u32 sizes, f32 rates). Llama-3 scaling is
    /// not a key there: the converter must also write rope_freqs.weight (see <see cref="Llama3RopeFactors"/>).
    /// </summary>
    public void ToGguf(GgufMetadata md)
    {
        ArgumentNullException.ThrowIfNull(md);
        Validate("LlamaConfig");
        md.Set("general.architecture", GgufValue.Of("llama"));
        md.Set("llama.vocab_size", GgufValue.Of((uint)VocabSize));
        md.Set("llama.context_length", GgufValue.Of((uint)ContextLength));
        md.Set("llama.embedding_length", GgufValue.Of((uint)Dim));
        md.Set("llama.block_count", GgufValue.Of((uint)NLayers));
        md.Set("llama.feed_forward_length", GgufValue.Of((uint)FfnDim));
        md.Set("llama.rope.dimension_count", GgufValue.Of((uint)HeadDim));
        md.Set("llama.attention.head_count", GgufValue.Of((uint)NHeads));
        md.Set("llama.attention.head_count_kv", GgufValue.Of((uint)NKvHeads));
        md.Set("llama.rope.freq_base", GgufValue.Of((float)RopeTheta));
        md.Set("llama.attention.layer_norm_rms_epsilon", GgufValue.Of((float)NormEps));
        if (RopeScaling is { Type: RopeScalingType.Linear } s)
        {
            md.Set("llama.rope.scaling.type", GgufValue.Of("linear"));
            md.Set("llama.rope.scaling.factor", GgufValue.Of((float)s.Factor));
        }
    }

    /// <summary>
    /// The rope_freqs.weight values for Llama-3 scaling, one per rotary frequency (HeadDim/2), as
    /// convert_hf_to_gguf computes them: 1 for high frequencies, the factor for low ones, and a smooth blend between.
    /// </summary>
    public float[] Llama3RopeFactors()
    {
        if (RopeScaling is not { Type: RopeScalingType.Llama3 } s) throw new InvalidOperationException("the config has no Llama-3 rope scaling");
        double lowFreqWavelen = s.OriginalContextLength / s.LowFreqFactor;
        double highFreqWavelen = s.OriginalContextLength / s.HighFreqFactor;
        var factors = new float[HeadDim / 2];
        for (int i = 0; i < factors.Length; i++)
        {
            double freq = 1.0 / Math.Pow(RopeTheta, 2.0 * i / HeadDim);
            double wavelen = 2 * Math.PI / freq;
            factors[i] = (float)(wavelen < highFreqWavelen ? 1.0
                : wavelen > lowFreqWavelen ? s.Factor
                : 1.0 / ((1 - (s.OriginalContextLength / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)) / s.Factor
                         + (s.OriginalContextLength / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)));
        }
        return factors;
    }
}
