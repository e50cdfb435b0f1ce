using System.Runtime.InteropServices;
using LlamaAdapter.Convert;
using LlamaAdapter.Convert.Lora;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Adapters;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Tests.Model;
using LlamaAdapter.Training.Checkpoints;
using LlamaAdapter.Training.Peft;
using static LlamaAdapter.Tests.Convert.LoraFixtures;
using PretrainedLlama = LlamaAdapter.Training.Loading.PretrainedLlama;

namespace LlamaAdapter.Tests.Convert;

/// <summary>LoRA export and merge refuse what they cannot do right with one error naming the file and the field; no output appears.</summary>
public sealed class LoraBadInputTests : IDisposable
{
    private static readonly LoraConfig Config = new(Rank: 2, Alpha: 4, Dropout: 0, Targets: [Projection.Wq, Projection.W2]);
    private readonly LoraFixtures _f = new();
    private readonly string _extract;

    public LoraBadInputTests()
    {
        using var m = WithRandomLora(_f.BaseGguf, Config, seed: 41);
        _extract = Extract(m, PeftDescription.Describe(m, Config), _f.Dir.Path, "lora");
    }

    public void Dispose() => _f.Dispose();

    private string Out => _f.Dir["out.gguf"];

    private BadInputException Refused(Action convert)
    {
        var e = Assert.Throws<BadInputException>(convert);
        Assert.False(File.Exists(Out), "a refused conversion must leave no output");
        Assert.Empty(Directory.GetFiles(_f.Dir.Path, "*.tmp*"));
        return e;
    }

    private BadInputException RefusedExport(string lora, string? baseModel = null, GgmlType type = GgmlType.F32) =>
        Refused(() => LoraConverter.Convert(lora, baseModel ?? _f.BaseGguf, Out, type));

    /// <summary>The extract with its metadata and tensors edited.</summary>
    private string Edited(Action<Dictionary<string, string>> meta, Action<Dictionary<string, StoredTensor>>? tensors = null)
    {
        var (t, m) = TensorFile.Read(_extract);
        meta(m);
        tensors?.Invoke(t);
        string path = _f.Dir[$"edited-{Guid.NewGuid():N}.safetensors"];
        TensorFile.Write(path, t.Values.ToList(), m);
        return path;
    }

    [Fact]
    public void LoraForAnotherBase_IsRefused_NamingTheField()
    {
        using var other = new LoraFixtures(new TinyLlama(TinyLlama.DefaultConfig() with { FfnDim = 128 }, seed: 3));
        var e = RefusedExport(_extract, other.BaseGguf);
        Assert.Contains(_extract, e.Message);
        Assert.Contains("'adapter.base.feed_forward_length' is 96", e.Message);
        Assert.Contains("has 128", e.Message);

        using var fewer = new LoraFixtures(new TinyLlama(TinyLlama.DefaultConfig() with { NLayers = 2 }, seed: 3));
        Assert.Contains("'adapter.base.block_count' is 3", RefusedExport(_extract, fewer.HfDir).Message);

        // A LoRA GGUF made for one base, merged into another: llama.cpp's own check, here as an error.
        LoraConverter.Convert(_extract, _f.BaseGguf, _f.Dir["lora.gguf"], GgmlType.F32);
        var merge = Refused(() => LoraMerger.Convert(other.BaseGguf, _f.Dir["lora.gguf"], Out, new ConvertOptions(OutputType.F32)));
        Assert.Contains("blk.0.ffn_down.weight", merge.Message);
        Assert.Contains("another model shape", merge.Message);
        var layers = Refused(() => LoraMerger.Convert(fewer.BaseGguf, _f.Dir["lora.gguf"], Out, new ConvertOptions(OutputType.F32)));
        Assert.Contains("blk.2.", layers.Message);
        Assert.Contains("2 layers", layers.Message);
    }

    [Fact]
    public void BitFit_IsRefused_SayingLlamaCppHasNoBiasAdapters()
    {
        using var m = PretrainedLlama.Load(_f.BaseGguf);
        var bitFit = new BitFitConfig([Projection.Wq]);
        m.AttachBitFit(bitFit);
        string path = Extract(m, PeftDescription.Describe(m.Config, bitFit), _f.Dir.Path, "bitfit");
        Assert.Equal("bitfit", TrainedLora.KindOf(path));
        var e = RefusedExport(path);
        Assert.Contains(path, e.Message);
        Assert.Contains("BitFit", e.Message);
        Assert.Contains("no bias", e.Message);
        Assert.Contains("llama.cpp", e.Message);
        Assert.Contains("BitFit", Refused(() => LoraMerger.Convert(_f.BaseGguf, path, Out, new ConvertOptions(OutputType.F32))).Message);
    }

    [Theory]
    [InlineData("adapter.kind", null, "'adapter.kind' is missing")]
    [InlineData("adapter.kind", "linear", "expected 'lora'")]
    [InlineData("adapter.rank", "x", "'rank' is 'x'")]
    [InlineData("adapter.rank", "3", "'layers.0.attention.wq.lora_a' is F32 [2, 64]; expected F32 [3, 64]")]
    [InlineData("adapter.alpha", "abc", "'alpha' is 'abc'")]
    [InlineData("adapter.targets", "wq,q_proj", "'q_proj'")]
    [InlineData("adapter.targets", "wq", "tensor 'layers.0.feed_forward.w2.lora_a' is not one of the LoRA's")]
    [InlineData("adapter.targets", "wq,w2,w3", "tensor 'layers.0.feed_forward.w3.lora_a' is missing")]
    [InlineData("adapter.base.rope_layout", "sideways", "'base.rope_layout' is 'sideways'")]
    [InlineData("adapter.base.head_count", null, "'adapter.base.head_count' is missing")]
    public void MalformedMetadata_IsRefused_NamingTheField(string key, string? value, string expected)
    {
        string path = Edited(m => { if (value is null) m.Remove(key); else m[key] = value; });
        var e = RefusedExport(path);
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void MalformedTensors_AreRefused_NamingTheTensor()
    {
        const string b = "layers.1.attention.wq.lora_b";
        Assert.Contains($"tensor '{b}' is missing (expected F32 [64, 2])", RefusedExport(Edited(_ => { }, t => t.Remove(b))).Message);
        Assert.Contains($"tensor '{b}' is F32 [2, 64]; expected F32 [64, 2]", RefusedExport(Edited(_ => { }, t => t[b] = t[b] with { Shape = [2, 64] })).Message);
        Assert.Contains("tensor 'layers.0.attention.wq.bias' is not one of the LoRA's",
            RefusedExport(Edited(_ => { }, t => t["layers.0.attention.wq.bias"] = StoredTensor.Of("layers.0.attention.wq.bias", new float[64], 64))).Message);
        Assert.Contains($"tensor '{b}' element 5 (row 2, column 1) is NaN", RefusedExport(Edited(_ => { }, t =>
        {
            var v = t[b].AsFloats();
            v[5] = float.NaN;
            t[b] = StoredTensor.Of(b, v, 64, 2);
        })).Message);
    }

    [Fact]
    public void UnsupportedLoraType_AndMissingFiles_AreRefused()
    {
        Assert.Contains("LoRA output type Q8_0 is not supported", RefusedExport(_extract, type: GgmlType.Q8_0).Message);
        Assert.Contains("no such file", Refused(() => LoraMerger.Convert(_f.BaseGguf, _f.Dir["absent.gguf"], Out, new ConvertOptions(OutputType.F32))).Message);
        Assert.Null(TrainedLora.KindOf(_f.BaseGguf));          // a GGUF is no trained LoRA: the prompt-adapter converter reports it
        Assert.Equal("lora", TrainedLora.KindOf(_extract));
    }

    /// <summary>A LoRA GGUF for --merge-lora gets llama.cpp's loader checks, as errors.</summary>
    [Fact]
    public void MalformedLoraGguf_IsRefused_NamingTheKeyOrTensor()
    {
        LoraConverter.Convert(_extract, _f.BaseGguf, _f.Dir["lora.gguf"], GgmlType.F32);
        string Rewrite(Action<GgufMetadata> meta, Func<GgufTensorInfo, bool>? keep = null, Func<string, string>? rename = null, Func<GgufTensorInfo, long[]>? shape = null)
        {
            using var r = GgufReader.Open(_f.Dir["lora.gguf"]);
            var md = new GgufMetadata();
            foreach (var (k, v) in r.Metadata) md.Set(k, v);
            meta(md);
            var tensors = r.Tensors.Where(t => keep?.Invoke(t) ?? true).ToList();
            string path = _f.Dir[$"bad-{Guid.NewGuid():N}.gguf"];
            var specs = tensors.Select(t => new GgufTensorSpec(rename?.Invoke(t.Name) ?? t.Name, t.Type, shape?.Invoke(t) ?? t.Shape.ToArray())).ToList();
            using var w = GgufWriter.Create(path, md, specs);
            foreach (var (t, s) in tensors.Zip(specs)) w.WriteTensor(s.Name, r.Span(t));
            w.Commit();
            return path;
        }
        string Merge(string lora) => Refused(() => LoraMerger.Convert(_f.BaseGguf, lora, Out, new ConvertOptions(OutputType.F32))).Message;

        Assert.Contains("metadata 'adapter.type' is \"control_vector\"; expected \"lora\"", Merge(Rewrite(md => md.Set("adapter.type", GgufValue.Of("control_vector")))));
        Assert.Contains("metadata 'general.type' is missing", Merge(Rewrite(md => md.Remove("general.type"))));
        Assert.Contains("'adapter.lora.alpha' is Float64; expected Float32", Merge(Rewrite(md => md.Set("adapter.lora.alpha", GgufValue.Of(4.0)))));
        Assert.Contains("pair for 'blk.1.attn_q.weight' is missing its .lora_b half", Merge(Rewrite(_ => { }, t => t.Name != "blk.1.attn_q.weight.lora_b")));
        Assert.Contains("'blk.0.attn_q.weight.lora_b' ne [2, 64]", Merge(Rewrite(_ => { }, shape: t =>
            t.Name == "blk.0.attn_q.weight.lora_a" ? [32, 4] : t.Shape.ToArray())));
        Assert.Contains("targets 'blk.0.attn_zz.weight'", Merge(Rewrite(_ => { }, rename: n => n.Replace("blk.0.attn_q.", "blk.0.attn_zz.", StringComparison.Ordinal))));
        Assert.Contains("tensor 'blk.0.attn_q.bias' is not a LoRA tensor", Merge(Rewrite(_ => { }, rename: n => n == "blk.0.attn_q.weight.lora_a" ? "blk.0.attn_q.bias" : n)));
    }

    /// <summary>Our engine's runtime LoRA checks the file against the loaded model before ggml sees a tensor.</summary>
    [Fact]
    public void EngineLora_RefusesAFileThatDoesNotFitTheModel()
    {
        LoraConverter.Convert(_extract, _f.BaseGguf, _f.Dir["lora.gguf"], GgmlType.F32);
        using var other = new LoraFixtures(new TinyLlama(TinyLlama.DefaultConfig() with { FfnDim = 128 }, seed: 3));
        using var fewer = new LoraFixtures(new TinyLlama(TinyLlama.DefaultConfig() with { NLayers = 2 }, seed: 3));
        string Load(string model, string lora)
        {
            using var m = GgmlLlamaModel.Load(model, threads: 1);
            return Assert.Throws<BadInputException>(() => GgmlLoraAdapter.Load(lora, m)).Message;
        }
        string shape = Load(other.BaseGguf, _f.Dir["lora.gguf"]);
        Assert.Contains("'blk.0.ffn_down.weight.lora_a'", shape);
        Assert.Contains("expected [128, 2]", shape);
        Assert.Contains("has 2 layers", Load(fewer.BaseGguf, _f.Dir["lora.gguf"]));
        Assert.Contains("'general.type': expected \"adapter\"", Load(_f.BaseGguf, _f.BaseGguf));   // a model is no adapter
        Assert.Contains("no such file", Load(_f.BaseGguf, _f.Dir["absent.gguf"]));

        // token_embd's LoRA is stored transposed by llama.cpp and gathered, not multiplied: refused rather than misapplied.
        var c = Tiny.Config;
        LoraGguf.Write(new LoraWeights(2f, [new LoraPair(new(Core.Formats.LlamaTensor.TokenEmbedding), 2, c.Dim, c.VocabSize, new float[2 * c.Dim], new float[c.VocabSize * 2])]),
            _f.Dir["embd.gguf"], GgmlType.F32);
        Assert.Contains("'token_embd.weight', which this engine cannot adapt", Load(_f.BaseGguf, _f.Dir["embd.gguf"]));
        Assert.Contains("token_embd.weight", Refused(() => LoraMerger.Convert(_f.BaseGguf, _f.Dir["embd.gguf"], Out, new ConvertOptions(OutputType.F32))).Message);

        using var model = GgmlLlamaModel.Load(_f.BaseGguf, threads: 1);
        using var second = GgmlLlamaModel.Load(_f.BaseGguf, threads: 1);
        using var lora = GgmlLoraAdapter.Load(_f.Dir["lora.gguf"], model);
        Assert.Throws<ArgumentException>(() => new LlamaSession(second, lora: lora));
    }
}
