using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats;

namespace LlamaAdapter.Tests.Formats;

public sealed class NamesTests
{
    // The full LLaMA-2 tensor list in all three spellings, as written by Meta, HF and llama.cpp.
    public static TheoryData<string, string, string> Triples => new()
    {
        { "tok_embeddings.weight", "model.embed_tokens.weight", "token_embd.weight" },
        { "norm.weight", "model.norm.weight", "output_norm.weight" },
        { "output.weight", "lm_head.weight", "output.weight" },
        { "layers.0.attention_norm.weight", "model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight" },
        { "layers.31.attention.wq.weight", "model.layers.31.self_attn.q_proj.weight", "blk.31.attn_q.weight" },
        { "layers.1.attention.wk.weight", "model.layers.1.self_attn.k_proj.weight", "blk.1.attn_k.weight" },
        { "layers.2.attention.wv.weight", "model.layers.2.self_attn.v_proj.weight", "blk.2.attn_v.weight" },
        { "layers.3.attention.wo.weight", "model.layers.3.self_attn.o_proj.weight", "blk.3.attn_output.weight" },
        { "layers.10.ffn_norm.weight", "model.layers.10.post_attention_layernorm.weight", "blk.10.ffn_norm.weight" },
        { "layers.4.feed_forward.w1.weight", "model.layers.4.mlp.gate_proj.weight", "blk.4.ffn_gate.weight" },
        { "layers.5.feed_forward.w3.weight", "model.layers.5.mlp.up_proj.weight", "blk.5.ffn_up.weight" },
        { "layers.79.feed_forward.w2.weight", "model.layers.79.mlp.down_proj.weight", "blk.79.ffn_down.weight" },
    };

    [Theory]
    [MemberData(nameof(Triples))]
    public void Convert_MapsEverySpellingToEveryOther(string meta, string hf, string gguf)
    {
        string[] n = [meta, hf, gguf];
        TensorNaming[] s = [TensorNaming.Meta, TensorNaming.HuggingFace, TensorNaming.Gguf];
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                Assert.Equal(n[b], TensorNames.Convert(n[a], s[a], s[b]));
    }

    [Fact]
    public void Parse_GivesKindAndLayer()
    {
        Assert.Equal(new LlamaTensorId(LlamaTensor.FfnDown, 7), TensorNames.Parse("blk.7.ffn_down.weight", TensorNaming.Gguf));
        Assert.Equal(new LlamaTensorId(LlamaTensor.TokenEmbedding), TensorNames.Parse("tok_embeddings.weight", TensorNaming.Meta));
        Assert.Equal(new LlamaTensorId(LlamaTensor.RopeFactors), TensorNames.Parse("rope_freqs.weight", TensorNaming.Gguf));
        Assert.Equal(new LlamaTensorId(LlamaTensor.RopeInverseFrequencies), TensorNames.Parse("rope.freqs", TensorNaming.Meta));
        Assert.Equal(new LlamaTensorId(LlamaTensor.RopeInverseFrequencies, 2), TensorNames.Parse("model.layers.2.self_attn.rotary_emb.inv_freq", TensorNaming.HuggingFace));
    }

    [Theory]
    [InlineData("layers.0.attention.wq.weight", TensorNaming.Gguf)]     // right name, wrong spelling
    [InlineData("blk.0.attn_q.weight", TensorNaming.HuggingFace)]
    [InlineData("model.layers.0.self_attn.q_proj.weight", TensorNaming.Meta)]
    [InlineData("layers.01.attention.wq.weight", TensorNaming.Meta)]    // not a canonical layer number
    [InlineData("layers.-1.attention.wq.weight", TensorNaming.Meta)]
    [InlineData("layers.0.attention.wq.bias", TensorNaming.Meta)]
    [InlineData("blk.0.attn_q", TensorNaming.Gguf)]
    [InlineData("", TensorNaming.Gguf)]
    [InlineData("model.layers.0.self_attn.rotary_emb.inv_freq", TensorNaming.Gguf)]
    public void Parse_RefusesUnknownNames(string name, TensorNaming naming)
    {
        Assert.False(TensorNames.TryParse(name, naming, out _));
        var e = Assert.Throws<BadInputException>(() => TensorNames.Parse(name, naming));
        Assert.Contains($"'{name}'", e.Message);
        Assert.Contains(naming.ToString(), e.Message);
    }

    [Theory]
    [InlineData("rope.freqs", TensorNaming.Meta, TensorNaming.Gguf, "derived from rope_theta")]
    [InlineData("model.layers.0.self_attn.rotary_emb.inv_freq", TensorNaming.HuggingFace, TensorNaming.Meta, "drop it")]
    [InlineData("rope_freqs.weight", TensorNaming.Gguf, TensorNaming.HuggingFace, "rope scaling")]
    public void Convert_RefusesTensorsWithoutCounterpart(string name, TensorNaming from, TensorNaming to, string expected)
    {
        var e = Assert.Throws<BadInputException>(() => TensorNames.Convert(name, from, to));
        Assert.Contains(name, e.Message);
        Assert.Contains(expected, e.Message);
    }
}
