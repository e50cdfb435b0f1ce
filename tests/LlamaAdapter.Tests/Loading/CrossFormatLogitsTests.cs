using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tensors;
using LlamaAdapter.Training.Loading;
using LlamaAdapter.Training.Model;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Loading;

/// <summary>
/// The end-to-end proof of names, rotary permutation, readers and model together: the same random weights written
/// as HF (wq/wk permuted, run half-split), Meta and GGUF (run interleaved), loaded, and run on the same ids.
/// </summary>
public class CrossFormatLogitsTests(LoadingFiles files, ITestOutputHelper output) : IClassFixture<LoadingFiles>
{
    private const float F32Tol = 1e-5f;

    private static Tensor Logits(string path, ScalarType dtype = ScalarType.Float32)
    {
        var model = PretrainedLlama.Load(path, dtype);
        return model.forward(LoadingFiles.Ids(model.Config.VocabSize));
    }

    [Fact]
    public void HfMetaAndGgufF32_AgreeWithTheInMemoryModel()
    {
        using var scope = NewDisposeScope();
        var truth = LoadingFiles.InMemory(files.Weights).forward(LoadingFiles.Ids(97));
        var hf = Logits(files.Hf);
        var meta = Logits(files.Meta);
        var gguf = Logits(files.GgufF32);
        Assert.Equal([2, 9, 97], hf.shape);
        Assert.InRange(LoadingFiles.MaxAbsDiff(hf, truth), 0, F32Tol);
        Assert.InRange(LoadingFiles.MaxAbsDiff(meta, truth), 0, F32Tol);
        Assert.InRange(LoadingFiles.MaxAbsDiff(gguf, truth), 0, F32Tol);
        Assert.InRange(LoadingFiles.MaxAbsDiff(hf, gguf), 0, F32Tol);
        output.WriteLine($"max |Δlogit| vs in-memory: HF {LoadingFiles.MaxAbsDiff(hf, truth):G3}, Meta {LoadingFiles.MaxAbsDiff(meta, truth):G3}, GGUF F32 {LoadingFiles.MaxAbsDiff(gguf, truth):G3}");
        Assert.InRange(LoadingFiles.MaxAbsDiff(meta, gguf), 0, 0); // same layout, same float32 bytes: identical
    }

    [Fact]
    public void EachFormat_GetsItsRotaryLayout_AndTheWrongOneWouldShow()
    {
        using var scope = NewDisposeScope();
        Assert.Equal(RopeLayout.HalfSplit, PretrainedLlama.Load(files.Hf).Options.Layout);
        Assert.Equal(RopeLayout.Interleaved, PretrainedLlama.Load(files.Meta).Options.Layout);
        Assert.Equal(RopeLayout.Interleaved, PretrainedLlama.Load(files.GgufF32).Options.Layout);

        // Control: the HF file's permuted weights run with Meta's layout give different logits, so the comparison
        // above would catch a missing or doubled permutation.
        using var hf = LlamaCheckpoint.Open(files.Hf);
        var wrong = new LlamaModel(hf.Config, hf.Tensors.ToDictionary(kv => kv.Key, kv => Load(hf, kv.Value)),
                                   new LlamaModelOptions(RopeLayout.Interleaved), "hf as interleaved");
        var truth = LoadingFiles.InMemory(files.Weights).forward(LoadingFiles.Ids(97));
        Assert.True(LoadingFiles.MaxAbsDiff(wrong.forward(LoadingFiles.Ids(97)), truth) > 1e-2);
    }

    private static unsafe Tensor Load(LlamaCheckpoint c, StoredTensor t)
    {
        Tensor? r = null;
        c.Read(t, (p, n) => r = StoredTensorConverter.ToTorch(t, p, n, ScalarType.Float32));
        return r!;
    }

    [Fact]
    public void GgufF16_IsTheFp16RoundedModel_AndCloseToF32()
    {
        using var scope = NewDisposeScope();
        var f16 = Logits(files.GgufF16);
        // Exact reference: the 2-D weights rounded to fp16 by torch (independent of our Fp16 code), norms kept F32
        // as the file keeps them.
        var rounded = LoadingFiles.InMemory(files.Weights, transform: (name, v) =>
            files.Weights.Shapes[name].Length == 1 ? v : tensor(v).to(ScalarType.Float16).to(ScalarType.Float32).data<float>().ToArray());
        Assert.InRange(LoadingFiles.MaxAbsDiff(f16, rounded.forward(LoadingFiles.Ids(97))), 0, F32Tol);
        output.WriteLine($"F16: vs fp16-rounded reference {LoadingFiles.MaxAbsDiff(f16, rounded.forward(LoadingFiles.Ids(97))):G3}, vs F32 {LoadingFiles.MaxAbsDiff(f16, Logits(files.GgufF32)):G3}");
        // fp16 keeps 11 significant bits (relative step 2^-11 ≈ 4.9e-4); through two layers the logits (max |logit| 3.5)
        // move by 0.0019 (measured); 1e-2 is the stated bound.
        Assert.InRange(LoadingFiles.MaxAbsDiff(f16, Logits(files.GgufF32)), 0, 1e-2);
    }

    [Fact]
    public void GgufQ8_0_IsGgmlsDequantizedModel_AndAgreesOnTop1()
    {
        using var scope = NewDisposeScope();
        var q8 = Logits(files.GgufQ8);
        // Exact reference: each 2-D weight quantized and dequantized by ggml's own to_float.
        var ggml = LoadingFiles.InMemory(files.Weights, transform: (name, v) =>
        {
            var shape = files.Weights.Shapes[name];
            if (shape.Length == 1) return v;
            var q = TinyLlamaFactory.Encode(v, GgmlType.Q8_0, shape[1]);
            var back = new float[v.Length];
            GgmlQuantizer.Dequantize(GgmlType.Q8_0, q, back, shape[0], shape[1]);
            return back;
        });
        Assert.InRange(LoadingFiles.MaxAbsDiff(q8, ggml.forward(LoadingFiles.Ids(97))), 0, F32Tol);

        // Q8_0 rounds each weight to a step of amax/127 per 32 values: through two layers this tiny model's logits
        // (max |logit| 3.5) move by 0.048 at most (measured); 0.1 is the stated bound, and every position keeps its arg-max.
        var f32 = Logits(files.GgufF32);
        output.WriteLine($"max |logit| {f32.abs().max().item<float>():G3}; Q8_0: vs ggml-dequantized reference {LoadingFiles.MaxAbsDiff(q8, ggml.forward(LoadingFiles.Ids(97))):G3}, vs F32 {LoadingFiles.MaxAbsDiff(q8, f32):G3}");
        Assert.InRange(LoadingFiles.MaxAbsDiff(q8, f32), 0, 0.1);
        Assert.True(q8.argmax(-1).eq(f32.argmax(-1)).all().item<bool>(), "Q8_0 changed a top-1 token");
    }

    [Fact]
    public void TiedEmbeddings_HfAndGguf_UseTheEmbeddingsAsOutput()
    {
        using var scope = NewDisposeScope();
        var truth = LoadingFiles.InMemory(files.Tied).forward(LoadingFiles.Ids(97));
        foreach (var path in new[] { files.HfTied, files.GgufTied })
        {
            var model = PretrainedLlama.Load(path);
            Assert.True(model.Config.TiedEmbeddings, path);
            Assert.DoesNotContain(model.named_parameters(), p => p.name == "output.weight");
            Assert.InRange(LoadingFiles.MaxAbsDiff(model.forward(LoadingFiles.Ids(97)), truth), 0, F32Tol);
        }
    }

    [Fact]
    public void ShardedHf_AndTwoRankMeta_LoadTheSameModel()
    {
        using var scope = NewDisposeScope();
        string hf = files.P("hf-sharded"), meta = files.P("meta-2");
        TinyLlamaFactory.WriteHuggingFace(files.Weights, hf, shards: 3);
        LoadingFiles.WriteMeta(files.Weights, meta, shards: 2);
        Assert.True(File.Exists(Path.Combine(hf, "model.safetensors.index.json")));
        Assert.True(File.Exists(Path.Combine(meta, "consolidated.01.pth")));
        var truth = LoadingFiles.InMemory(files.Weights).forward(LoadingFiles.Ids(97));
        Assert.InRange(LoadingFiles.MaxAbsDiff(Logits(hf), truth), 0, F32Tol);
        Assert.InRange(LoadingFiles.MaxAbsDiff(Logits(meta), truth), 0, 0);
    }

    [Fact]
    public void Llama3RopeScaling_FromGgufRopeFactors_AndHfRopeScaling()
    {
        using var scope = NewDisposeScope();
        var scaling = new RopeScaling(RopeScalingType.Llama3, 8.0, 1.0, 4.0, 8192);
        var w = TinyLlamaFactory.Create(TinyLlamaFactory.DefaultConfig() with { RopeScaling = scaling }, seed: 4);
        string gguf = files.P("llama3.gguf"), hf = files.P("llama3-hf");
        TinyLlamaFactory.WriteGguf(w, gguf);
        TinyLlamaFactory.WriteHuggingFace(w, hf);
        // Long enough ids that the scaled low frequencies matter.
        var ids = tensor(Enumerable.Range(0, 40).Select(i => (long)(i * 7 % 97)).ToArray(), [1, 40], ScalarType.Int64);
        var truth = LoadingFiles.InMemory(w).forward(ids);
        foreach (var path in new[] { gguf, hf })
        {
            var model = PretrainedLlama.Load(path);
            Assert.Equal(scaling, model.Config.RopeScaling);
            Assert.InRange(LoadingFiles.MaxAbsDiff(model.forward(ids), truth), 0, F32Tol);
        }
        // Control: the same weights without the scaling give other logits, so the check above can fail.
        var unscaled = LoadingFiles.InMemory(w with { Config = w.Config with { RopeScaling = null } }).forward(ids);
        Assert.True(LoadingFiles.MaxAbsDiff(unscaled, truth) > 1e-3);
    }

    [Fact]
    public void Configs_AgreeAcrossFormats()
    {
        var c = files.Weights.Config;
        using var hf = LlamaCheckpoint.Open(files.Hf);
        using var gguf = LlamaCheckpoint.Open(files.GgufF32);
        using var meta = LlamaCheckpoint.Open(files.Meta);
        Assert.Equal(c, hf.Config);
        Assert.Equal(c, gguf.Config);
        // params.json has no context length (Meta's guess for norm_eps 1e-5 is 4096); everything else matches.
        Assert.Equal(c with { ContextLength = meta.Config.ContextLength }, meta.Config);
        Assert.Equal((CheckpointFormat.HuggingFace, CheckpointFormat.Gguf, CheckpointFormat.Meta), (hf.Format, gguf.Format, meta.Format));
    }
}
