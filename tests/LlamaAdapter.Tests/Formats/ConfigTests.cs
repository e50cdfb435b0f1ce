using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats.Gguf;

namespace LlamaAdapter.Tests.Formats;

public sealed class ConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cfg-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string json, string name = "c.json")
    {
        string p = Path.Combine(_dir, name);
        File.WriteAllText(p, json);
        return p;
    }

    // Published params.json files and the FFN sizes of the matching HF configs (intermediate_size).
    [Theory]
    [InlineData("""{"dim": 4096, "multiple_of": 256, "n_heads": 32, "n_layers": 32, "norm_eps": 1e-06, "vocab_size": -1}""", 11008, 2048)]       // LLaMA-7B
    [InlineData("""{"dim": 4096, "multiple_of": 256, "n_heads": 32, "n_layers": 32, "norm_eps": 1e-05, "vocab_size": -1}""", 11008, 4096)]       // Llama-2-7b
    [InlineData("""{"dim": 5120, "multiple_of": 256, "n_heads": 40, "n_layers": 40, "norm_eps": 1e-05, "vocab_size": -1}""", 13824, 4096)]       // Llama-2-13b
    [InlineData("""{"dim": 8192, "multiple_of": 4096, "ffn_dim_multiplier": 1.3, "n_heads": 64, "n_kv_heads": 8, "n_layers": 80, "norm_eps": 1e-05, "vocab_size": -1}""", 28672, 4096)] // Llama-2-70b
    public void FromMetaParams_ComputesFfnAsModelPy(string json, int ffn, int ctx)
    {
        var c = LlamaConfig.FromMetaParams(Write(json), vocabSizeFallback: 32000);
        Assert.Equal(ffn, c.FfnDim);
        Assert.Equal(32000, c.VocabSize);
        Assert.Equal(ctx, c.ContextLength);
        Assert.Null(c.RopeScaling);
        Assert.Equal(10000.0, c.RopeTheta);
    }

    [Fact]
    public void FromMetaParams_Llama31()
    {
        var c = LlamaConfig.FromMetaParams(Write("""{"dim": 4096, "ffn_dim_multiplier": 1.3, "multiple_of": 1024, "n_heads": 32, "n_kv_heads": 8, "n_layers": 32, "norm_eps": 1e-05, "rope_theta": 500000.0, "use_scaled_rope": true, "vocab_size": 128256}"""), 0);
        Assert.Equal(new LlamaConfig(4096, 32, 32, 8, 14336, 128256, 500000.0, new RopeScaling(RopeScalingType.Llama3, 8, 1, 4, 8192), 1e-5, 131072), c);
        Assert.Equal(1024, c.KvDim);
    }

    [Theory]
    [InlineData("""{"dim": 4096, "n_heads": 32, "n_layers": 32, "vocab_size": -1}""", 0, "'vocab_size'")]
    [InlineData("""{"dim": "4096", "n_heads": 32, "n_layers": 32}""", 32000, "'dim': expected an integer, found \"4096\"")]
    [InlineData("""{"n_heads": 32, "n_layers": 32}""", 32000, "'dim': expected an integer (missing)")]
    [InlineData("""{"dim": 4096, "n_heads": 30, "n_layers": 32}""", 32000, "NHeads")]
    [InlineData("""{"dim": 4096, "n_heads": 32, "n_layers": 32, "multiple_of": 0}""", 32000, "'multiple_of'")]
    [InlineData("""{"dim": 4096, "n_heads": 32, "n_layers": 32, "use_scaled_rope": 1}""", 32000, "'use_scaled_rope'")]
    [InlineData("""[1]""", 32000, "JSON object")]
    [InlineData("""{"dim": 4096,""", 32000, "not valid JSON")]
    public void FromMetaParams_RefusesBadFields(string json, int fallback, string expected)
    {
        string p = Write(json);
        var e = Assert.ThrowsAny<BadInputException>(() => LlamaConfig.FromMetaParams(p, fallback));
        Assert.Contains(p, e.Message);
        Assert.Contains(expected, e.Message);
    }

    private const string Llama2HfConfig = """{"architectures":["LlamaForCausalLM"],"bos_token_id":1,"eos_token_id":2,"hidden_act":"silu","hidden_size":4096,"initializer_range":0.02,"intermediate_size":11008,"max_position_embeddings":4096,"model_type":"llama","num_attention_heads":32,"num_hidden_layers":32,"num_key_value_heads":32,"pretraining_tp":1,"rms_norm_eps":1e-05,"rope_scaling":null,"tie_word_embeddings":false,"torch_dtype":"float16","transformers_version":"4.31.0.dev0","use_cache":true,"vocab_size":32000}""";

    [Fact]
    public void FromHfConfig_Llama2AndLlama31AndTiedLlama32()
    {
        Assert.Equal(new LlamaConfig(4096, 32, 32, 32, 11008, 32000, 10000, null, 1e-5, 4096), LlamaConfig.FromHfConfig(Write(Llama2HfConfig)));
        var l31 = LlamaConfig.FromHfConfig(Write("""{"architectures":["LlamaForCausalLM"],"hidden_size":4096,"intermediate_size":14336,"max_position_embeddings":131072,"model_type":"llama","num_attention_heads":32,"num_hidden_layers":32,"num_key_value_heads":8,"rms_norm_eps":1e-05,"rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},"rope_theta":500000.0,"tie_word_embeddings":false,"vocab_size":128256}"""));
        Assert.Equal(new LlamaConfig(4096, 32, 32, 8, 14336, 128256, 500000, new RopeScaling(RopeScalingType.Llama3, 8, 1, 4, 8192), 1e-5, 131072), l31);
        var l32 = LlamaConfig.FromHfConfig(Write("""{"hidden_size":2048,"intermediate_size":8192,"model_type":"llama","num_attention_heads":32,"num_hidden_layers":16,"num_key_value_heads":8,"head_dim":64,"tie_word_embeddings":true,"vocab_size":128256,"rope_scaling":{"type":"linear","factor":2.0}}"""));
        Assert.True(l32.TiedEmbeddings);
        Assert.Equal(1e-6, l32.NormEps);      // transformers' default
        Assert.Equal(2048, l32.ContextLength); // transformers' default
        Assert.Equal(new RopeScaling(RopeScalingType.Linear, 2.0), l32.RopeScaling);
    }

    [Theory]
    [InlineData("\"model_type\":\"llama\"", "\"model_type\":\"mistral\"", "'model_type'")]
    [InlineData("\"rope_scaling\":null", "\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4}", "rope_scaling.rope_type")]
    [InlineData("\"rope_scaling\":null", "\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8}", "rope_scaling.low_freq_factor")]
    [InlineData("\"rope_scaling\":null", "\"rope_scaling\":{\"type\":\"linear\",\"factor\":-1}", "rope_scaling.factor")]
    [InlineData("\"intermediate_size\":11008,", "", "'intermediate_size'")]
    [InlineData("\"num_key_value_heads\":32", "\"num_key_value_heads\":5", "NKvHeads")]
    [InlineData("\"hidden_size\":4096", "\"hidden_size\":4096.5", "'hidden_size'")]
    [InlineData("\"tie_word_embeddings\":false", "\"tie_word_embeddings\":\"no\"", "'tie_word_embeddings'")]
    public void FromHfConfig_RefusesBadFields(string from, string to, string expected)
    {
        string p = Write(Llama2HfConfig.Replace(from, to));
        var e = Assert.ThrowsAny<BadInputException>(() => LlamaConfig.FromHfConfig(p));
        Assert.Contains(p, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void ToGguf_WritesLlamaCppKeysAndFromGgufReadsThemBack()
    {
        var c = new LlamaConfig(4096, 32, 32, 8, 14336, 128256, 500000, new RopeScaling(RopeScalingType.Linear, 4), 1e-5, 8192);
        var md = new GgufMetadata();
        c.ToGguf(md);
        Assert.Equal(GgufValue.Of("llama"), md["general.architecture"]);
        Assert.Equal(GgufValue.Of(4096u), md["llama.embedding_length"]);
        Assert.Equal(GgufValue.Of(32u), md["llama.block_count"]);
        Assert.Equal(GgufValue.Of(8u), md["llama.attention.head_count_kv"]);
        Assert.Equal(GgufValue.Of(128u), md["llama.rope.dimension_count"]);
        Assert.Equal(GgufValue.Of(1e-5f), md["llama.attention.layer_norm_rms_epsilon"]);
        Assert.Equal(GgufValue.Of(500000f), md["llama.rope.freq_base"]);
        Assert.Equal(GgufValue.Of("linear"), md["llama.rope.scaling.type"]);
        Assert.Equal(GgufValue.Of(4f), md["llama.rope.scaling.factor"]);
        Assert.Equal(c, LlamaConfig.FromGguf(md));

        var l2 = new LlamaConfig(4096, 32, 32, 32, 11008, 32000, 10000, null, 1e-6, 4096);
        var md2 = new GgufMetadata();
        l2.ToGguf(md2);
        Assert.False(md2.ContainsKey("llama.rope.scaling.type"));
        Assert.Equal(l2, LlamaConfig.FromGguf(md2));
    }

    private static GgufMetadata MinimalGguf()
    {
        var md = new GgufMetadata { Source = "m.gguf" };
        md.Set("general.architecture", GgufValue.Of("llama"));
        md.Set("llama.context_length", GgufValue.Of(2048u));
        md.Set("llama.embedding_length", GgufValue.Of(64u));
        md.Set("llama.block_count", GgufValue.Of(2u));
        md.Set("llama.feed_forward_length", GgufValue.Of(172u));
        md.Set("llama.attention.head_count", GgufValue.Of(4u));
        md.Set("llama.attention.layer_norm_rms_epsilon", GgufValue.Of(1e-6f));
        md.Set("tokenizer.ggml.tokens", GgufValue.Array(new[] { "a", "b", "c" }));
        return md;
    }

    [Fact]
    public void FromGguf_DefaultsKvHeadsAndVocabFromTokens()
    {
        var c = LlamaConfig.FromGguf(MinimalGguf());
        Assert.Equal(new LlamaConfig(64, 2, 4, 4, 172, 3, 10000, null, 1e-6, 2048), c);
    }

    [Theory]
    [InlineData("general.architecture", "gpt2", "'general.architecture': expected \"llama\"")]
    [InlineData("general.architecture", null, "'general.architecture'")]
    [InlineData("llama.block_count", null, "'llama.block_count': expected a positive 32-bit integer (missing)")]
    [InlineData("llama.block_count", "two", "'llama.block_count': expected an integer")]
    [InlineData("tokenizer.ggml.tokens", null, "'llama.vocab_size'")]
    [InlineData("llama.rope.dimension_count", 8u, "'llama.rope.dimension_count'")]
    [InlineData("llama.rope.scaling.type", "yarn", "'llama.rope.scaling.type'")]
    [InlineData("llama.attention.head_count_kv", 3u, "NKvHeads")]
    [InlineData("llama.attention.layer_norm_rms_epsilon", null, "layer_norm_rms_epsilon")]
    public void FromGguf_RefusesBadMetadata(string key, object? value, string expected)
    {
        var md = MinimalGguf();
        if (value is null) md.Remove(key);
        else md.Set(key, value is string s ? GgufValue.Of(s) : GgufValue.Of((uint)value));
        var e = Assert.ThrowsAny<BadInputException>(() => LlamaConfig.FromGguf(md));
        Assert.Contains("m.gguf", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Llama3RopeFactors_MatchMetaApplyScaling()
    {
        var c = new LlamaConfig(4096, 32, 32, 8, 14336, 128256, 500000, new RopeScaling(RopeScalingType.Llama3, 8, 1, 4, 8192), 1e-5, 131072);
        float[] f = c.Llama3RopeFactors();
        Assert.Equal(64, f.Length);
        // Meta's apply_scaling written out independently: new = freq (short waves), freq/8 (long), blend between.
        int smoothSeen = 0;
        for (int i = 0; i < 64; i++)
        {
            double freq = 1.0 / Math.Pow(500000, i * 2 / 128.0), wavelen = 2 * Math.PI / freq, scaled;
            if (wavelen < 8192 / 4.0) scaled = freq;
            else if (wavelen > 8192 / 1.0) scaled = freq / 8;
            else { double smooth = (8192 / wavelen - 1) / (4 - 1); scaled = (1 - smooth) * freq / 8 + smooth * freq; smoothSeen++; }
            Assert.Equal(freq / scaled, f[i], 1e-5);
        }
        Assert.Equal(1f, f[0]);
        Assert.Equal(8f, f[63], 1e-6);
        Assert.True(smoothSeen > 0);
    }
}
