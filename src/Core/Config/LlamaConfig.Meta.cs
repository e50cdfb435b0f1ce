namespace LlamaAdapter.Core.Config;

public sealed partial record LlamaConfig
{
    /// <summary>
    /// Reads Meta's <c>params.json</c>. vocab_size −1 (LLaMA 1/2: the tokenizer decides) takes
    /// <paramref name="vocabSizeFallback"/>, normally the row count of tok_embeddings. params.json has no context
    /// length: without <paramref name="contextLength"/> it is guessed as llama.cpp's convert.py did (rope_theta 1e6 →
    /// CodeLlama 16384; norm_eps 1e-5 → LLaMA 2 4096; else LLaMA 1 2048), extended for LLaMA 3 (rope_theta 5e5 →
    /// 8192, use_scaled_rope → 131072).
    /// </summary>
    public static LlamaConfig FromMetaParams(string path, int vocabSizeFallback, int? contextLength = null)
    {
        var f = JsonFields.Load(path, out var doc);
        using (doc)
        {
            int dim = f.Int("dim"), heads = f.Int("n_heads");
            int vocab = f.IntOrNull("vocab_size") ?? -1;
            if (vocab == -1)
                vocab = vocabSizeFallback > 0 ? vocabSizeFallback
                    : throw new BadInputException($"{path}: field 'vocab_size' is -1 (taken from the tokenizer) and no vocabulary size was supplied; expected a positive fallback, got {vocabSizeFallback}");
            else if (vocab <= 0) throw f.Bad("vocab_size", "a positive integer or -1", f.Get("vocab_size"));

            int multipleOf = f.IntOrNull("multiple_of") ?? 256;
            if (multipleOf <= 0) throw f.Bad("multiple_of", "a positive integer", f.Get("multiple_of"));
            double? ffnMultiplier = f.DoubleOrNull("ffn_dim_multiplier");
            if (ffnMultiplier is <= 0) throw f.Bad("ffn_dim_multiplier", "a positive number or null", f.Get("ffn_dim_multiplier"));
            double normEps = f.DoubleOrNull("norm_eps") ?? 1e-5;
            double ropeTheta = f.DoubleOrNull("rope_theta") ?? 10000.0;
            bool scaled = f.BoolOrNull("use_scaled_rope") ?? false;

            int ctx = contextLength
                ?? (scaled ? 131072 : ropeTheta == 500000 ? 8192 : ropeTheta == 1000000 ? 16384 : normEps == 1e-5 ? 4096 : 2048);
            return new LlamaConfig(
                Dim: dim,
                NLayers: f.Int("n_layers"),
                NHeads: heads,
                NKvHeads: f.IntOrNull("n_kv_heads") ?? heads,
                FfnDim: MetaFfnDim(dim, multipleOf, ffnMultiplier),
                VocabSize: vocab,
                RopeTheta: ropeTheta,
                // Meta's apply_scaling constants for use_scaled_rope (LLaMA 3.1).
                RopeScaling: scaled ? new RopeScaling(RopeScalingType.Llama3, 8.0, 1.0, 4.0, 8192) : null,
                NormEps: normEps,
                ContextLength: ctx).ValidatedFrom(path);
        }
    }

    /// <summary>FeedForward's hidden size in Meta's model.py: 2/3 of 4·dim, times the multiplier, rounded up to multiple_of.</summary>
    public static int MetaFfnDim(int dim, int multipleOf, double? ffnDimMultiplier)
    {
        long hidden = 4L * dim;
        hidden = 2 * hidden / 3;                                    // int(2 * hidden_dim / 3)
        if (ffnDimMultiplier is { } m) hidden = (long)(m * hidden); // int(ffn_dim_multiplier * hidden_dim)
        hidden = multipleOf * ((hidden + multipleOf - 1) / multipleOf);
        return checked((int)hidden);
    }
}
