using System.Runtime.InteropServices;
using LlamaAdapter.Convert;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tensors;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Tests.Model;
using static LlamaAdapter.Tests.Convert.TinyCheckpoints;

namespace LlamaAdapter.Tests.Convert;

/// <summary>HF / Meta / GGUF checkpoints → GGUF: metadata, names, Meta row layout, per-tensor types, and bytes equal to
/// quantizing the original Meta-layout floats directly.</summary>
public class ModelConverterTests
{
    private static readonly TinyLlama Tiny = new(TinyLlama.DefaultConfig(), seed: 3);

    private static ConvertOptions Options(OutputType t, int vocab = 97) => new(t, Tokenizer: Tokenizer(vocab), ChunkElements: 1000);

    /// <summary>What the GGUF tensor must hold: the Meta-layout floats quantized to its type in one call.</summary>
    private static byte[] Expected(TinyLlama m, string ggufName, GgmlType type)
    {
        string meta = TensorNames.Convert(ggufName, TensorNaming.Gguf, TensorNaming.Meta);
        var shape = m.Shapes[meta];
        long rowLength = shape[^1], rows = m.Data[meta].Length / rowLength;
        var dst = new byte[Quantizer.TensorBytes(type, rows, rowLength)];
        if (Quantizer.Supports(type)) Quantizer.Quantize(type, m.Data[meta], dst, rows, rowLength);
        else GgmlQuantizer.Quantize(type, m.Data[meta], dst, rows, rowLength);
        return dst;
    }

    private static void AssertTensorsMatch(TinyLlama m, GgufReader r, Func<string, GgmlType> expectedType)
    {
        Assert.Equal(m.Data.Count, r.Tensors.Count);
        foreach (var t in r.Tensors)
        {
            Assert.Equal(expectedType(t.Name), t.Type);
            string meta = TensorNames.Convert(t.Name, TensorNaming.Gguf, TensorNaming.Meta);
            Assert.Equal(m.Shapes[meta].Reverse(), t.Shape);
            Assert.True(Expected(m, t.Name, t.Type).AsSpan().SequenceEqual(r.Span(t)), $"{t.Name} ({t.Type}) bytes differ");
        }
    }

    [Theory]
    [InlineData("F32", 1)]
    [InlineData("F16", 2)]
    [InlineData("BF16", 1)]
    [InlineData("Q8_0", 3)]
    [InlineData("Q4_0", 1)]
    public void Hf_ToGguf_MetaLayoutInRequestedType(string type, int shards)
    {
        using var tmp = new TempDir();
        WriteHf(tmp["hf"], Tiny, shards: shards);
        var ot = OutputType.Parse(type);
        ModelConverter.Convert(tmp["hf"], tmp["out.gguf"], Options(ot));

        using var r = GgufReader.Open(tmp["out.gguf"]);
        var md = r.Metadata;
        Assert.Equal("llama", md.GetString("general.architecture"));
        Assert.Equal("hf", md.GetString("general.name"));
        Assert.Equal((long)ot.FileType, md.GetInt64("general.file_type"));
        Assert.Equal(2, md.GetInt64("general.quantization_version"));
        Assert.Equal(Tiny.Config with { ContextLength = 64 }, LlamaConfig.FromGguf(md));
        Assert.Equal(97, md.GetArray<string>(GgufTokenizerKeys.Tokens).Length);
        Assert.Equal("llama", md.GetString(GgufTokenizerKeys.Model));
        // Q4_0 is a llama-quantize mix: output.weight is Q6_K where its rows are whole 256-blocks, else the fallback (Q8_0 for 64).
        AssertTensorsMatch(Tiny, r, name =>
            name.EndsWith("norm.weight", StringComparison.Ordinal) ? GgmlType.F32
            : ot == OutputType.Q4_0 && name == "output.weight" ? GgmlType.Q8_0
            : ot.WeightType);
    }

    [Fact]
    public void Meta_ToGguf_SameBytesAsHf()
    {
        using var tmp = new TempDir();
        WriteMeta(tmp["meta"], Tiny);
        WriteHf(tmp["hf"], Tiny);
        ModelConverter.Convert(tmp["meta"], tmp["meta.gguf"], Options(OutputType.Q8_0) with { Name = "tiny" });
        ModelConverter.Convert(tmp["hf"], tmp["hf.gguf"], Options(OutputType.Q8_0) with { Name = "tiny" });
        using var a = GgufReader.Open(tmp["meta.gguf"]);
        using var b = GgufReader.Open(tmp["hf.gguf"]);
        AssertTensorsMatch(Tiny, a, name => name.EndsWith("norm.weight", StringComparison.Ordinal) ? GgmlType.F32 : GgmlType.Q8_0);
        Assert.Equal(b.Tensors.Select(t => t.Name), a.Tensors.Select(t => t.Name));
    }

    [Fact]
    public void Bf16Source_ConvertsExactly()
    {
        // bf16-representable weights: the F32 output must reproduce them bit for bit, the BF16 output byte for byte.
        var m = Tiny.With(Tiny.Config, (_, v) => v.Select(x => Bf16.ToFloat(Bf16.FromFloat(x))).ToArray());
        using var tmp = new TempDir();
        WriteHf(tmp["hf"], m, SafetensorsDType.BF16, shards: 2);
        ModelConverter.Convert(tmp["hf"], tmp["f32.gguf"], Options(OutputType.F32));
        ModelConverter.Convert(tmp["hf"], tmp["bf16.gguf"], Options(OutputType.BF16));
        using (var r = GgufReader.Open(tmp["f32.gguf"])) AssertTensorsMatch(m, r, _ => GgmlType.F32);
        using (var r = GgufReader.Open(tmp["bf16.gguf"])) AssertTensorsMatch(m, r, n => n.EndsWith("norm.weight", StringComparison.Ordinal) ? GgmlType.F32 : GgmlType.BF16);
    }

    [Fact]
    public void Quantize_GgufToGguf_EqualsDirectConversion_AndKeepsMetadata()
    {
        using var tmp = new TempDir();
        WriteHf(tmp["hf"], Tiny);
        ModelConverter.Convert(tmp["hf"], tmp["f32.gguf"], Options(OutputType.F32));
        ModelConverter.Convert(tmp["hf"], tmp["direct.gguf"], Options(OutputType.Q8_0));
        ModelConverter.Convert(tmp["f32.gguf"], tmp["requant.gguf"], new ConvertOptions(OutputType.Q8_0));
        using var a = GgufReader.Open(tmp["direct.gguf"]);
        using var b = GgufReader.Open(tmp["requant.gguf"]);
        Assert.Equal(a.Metadata.Keys, b.Metadata.Keys);
        Assert.Equal(a.Tensors.Select(t => (t.Name, t.Type)), b.Tensors.Select(t => (t.Name, t.Type)));
        foreach (var t in a.Tensors) Assert.True(a.Span(t).SequenceEqual(b.Span(t.Name)), t.Name);
        Assert.Equal(File.ReadAllBytes(tmp["direct.gguf"]), File.ReadAllBytes(tmp["requant.gguf"]));
    }

    /// <summary>A 256-wide model for the K-quant mixes: 8 layers, so use_more_bits picks layers 0, 3, 6 and 7.</summary>
    [Theory]
    [InlineData("Q4_K")]
    [InlineData("Q5_K")]
    [InlineData("Q6_K")]
    public void KQuantMix_FollowsLlamaCppChoices(string type)
    {
        var cfg = new LlamaConfig(Dim: 256, NLayers: 8, NHeads: 4, NKvHeads: 4, FfnDim: 96, VocabSize: 40, ContextLength: 32);
        var m = new TinyLlama(cfg, seed: 5);
        var ot = OutputType.Parse(type);
        using var tmp = new TempDir();
        WriteHf(tmp["hf"], m);
        ModelConverter.Convert(tmp["hf"], tmp["k.gguf"], Options(ot, vocab: 40));
        int[] moreBits = [0, 3, 6, 7];
        Assert.Equal(moreBits, Enumerable.Range(0, 8).Where(i => TensorTypePolicy.UseMoreBits(i, 8)));
        using var r = GgufReader.Open(tmp["k.gguf"]);
        Assert.Equal((long)ot.FileType, r.Metadata.GetInt64("general.file_type"));
        AssertTensorsMatch(m, r, name =>
        {
            if (name.EndsWith("norm.weight", StringComparison.Ordinal)) return GgmlType.F32;
            if (name == "output.weight") return GgmlType.Q6_K;
            // ffn_down rows are 96 long: not whole 256-blocks, so llama-quantize's fallback applies.
            int layer = name.StartsWith("blk.", StringComparison.Ordinal) ? int.Parse(name.Split('.')[1]) : -1;
            bool more = ot != OutputType.Q6_K && layer >= 0 && moreBits.Contains(layer);
            if (name.EndsWith("ffn_down.weight", StringComparison.Ordinal))
                return more ? GgmlType.Q8_0 : ot.WeightType switch { GgmlType.Q4_K => GgmlType.Q5_0, GgmlType.Q5_K => GgmlType.Q5_1, _ => GgmlType.Q8_0 };
            if (name.EndsWith("attn_v.weight", StringComparison.Ordinal) && more) return GgmlType.Q6_K;
            return ot.WeightType;
        });
    }

    [Fact]
    public void TiedEmbeddings_NoOutputTensor_TokenEmbeddingTakesOutputType()
    {
        var cfg = new LlamaConfig(Dim: 256, NLayers: 1, NHeads: 2, NKvHeads: 2, FfnDim: 256, VocabSize: 40, ContextLength: 32, TiedEmbeddings: true);
        var m = new TinyLlama(cfg, seed: 9);
        using var tmp = new TempDir();
        WriteHf(tmp["hf"], m);
        ModelConverter.Convert(tmp["hf"], tmp["t.gguf"], Options(OutputType.Q4_0, vocab: 40));
        using var r = GgufReader.Open(tmp["t.gguf"]);
        Assert.False(r.TryGetTensor("output.weight", out _));
        Assert.Equal(GgmlType.Q6_K, r.Tensor("token_embd.weight").Type);
        Assert.Equal(GgmlType.Q4_0, r.Tensor("blk.0.attn_q.weight").Type);
    }

    [Fact]
    public void SmallTokenizer_IsPaddedAsLlamaCppDoes()
    {
        using var tmp = new TempDir();
        WriteHf(tmp["hf"], Tiny);
        ModelConverter.Convert(tmp["hf"], tmp["o.gguf"], new ConvertOptions(OutputType.F16, Tokenizer: Tokenizer(0, size: 90)));
        using var r = GgufReader.Open(tmp["o.gguf"]);
        var tokens = r.Metadata.GetArray<string>(GgufTokenizerKeys.Tokens);
        Assert.Equal(97, tokens.Length);
        Assert.Equal("[PAD1]", tokens[90]);
        Assert.Equal("[PAD7]", tokens[96]);
        Assert.Equal((int)LlamaTokenType.Unused, r.Metadata.GetArray<int>(GgufTokenizerKeys.TokenType)[96]);
    }

    [Fact]
    public void Llama3RopeScaling_WritesRopeFreqsAsConvertHfToGgufDoes()
    {
        using var tmp = new TempDir();
        WriteHf(tmp["hf"], Tiny);
        string cfgPath = Path.Combine(tmp["hf"], "config.json");
        var cfg = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(cfgPath))!.AsObject();
        cfg["rope_scaling"] = System.Text.Json.Nodes.JsonNode.Parse(
            """{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 16}""");
        File.WriteAllText(cfgPath, cfg.ToJsonString());
        ModelConverter.Convert(tmp["hf"], tmp["o.gguf"], Options(OutputType.F16));
        using var r = GgufReader.Open(tmp["o.gguf"]);
        var t = r.Tensor("rope_freqs.weight");
        Assert.Equal(GgmlType.F32, t.Type);
        Assert.Equal([8L], t.Shape);
        var expected = LlamaConfig.FromHfConfig(cfgPath).Llama3RopeFactors();
        Assert.Equal(expected, MemoryMarshal.Cast<byte, float>(r.Span(t)).ToArray());
        Assert.Contains(expected, f => f != 1f);
        Assert.False(r.Metadata.ContainsKey("llama.rope.scaling.type"));
        // and re-quantizing keeps it as it is
        ModelConverter.Convert(tmp["o.gguf"], tmp["q.gguf"], new ConvertOptions(OutputType.Q8_0));
        using var q = GgufReader.Open(tmp["q.gguf"]);
        Assert.Equal(r.Span("rope_freqs.weight").ToArray(), q.Span("rope_freqs.weight").ToArray());
    }

    [Fact]
    public void OutputType_Parse()
    {
        Assert.Equal(OutputType.Q4_K, OutputType.Parse("q4_k_m"));
        Assert.Equal(OutputType.BF16, OutputType.Parse("bf16"));
        var e = Assert.Throws<Core.BadInputException>(() => OutputType.Parse("Q3_K"));
        Assert.Contains("Q6_K", e.Message);
    }

    [Fact]
    public void Fallback_FollowsLlamaQuantize()
    {
        Assert.Equal(GgmlType.Q5_0, TensorTypePolicy.Fallback(GgmlType.Q4_K, 96));
        Assert.Equal(GgmlType.Q5_1, TensorTypePolicy.Fallback(GgmlType.Q5_K, 96));
        Assert.Equal(GgmlType.Q8_0, TensorTypePolicy.Fallback(GgmlType.Q6_K, 96));
        Assert.Equal(GgmlType.F16, TensorTypePolicy.Fallback(GgmlType.Q6_K, 40));
        Assert.Equal(GgmlType.F16, TensorTypePolicy.Fallback(GgmlType.Q8_0, 40));
        Assert.Equal(GgmlType.Q4_K, TensorTypePolicy.Fallback(GgmlType.Q4_K, 512));
    }
}
