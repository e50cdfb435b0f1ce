using LlamaAdapter.Convert.Lora;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Adapters;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Training.Peft;
using Xunit.Abstractions;
using static LlamaAdapter.Tests.Convert.LoraFixtures;

namespace LlamaAdapter.Tests.Convert;

/// <summary>
/// The acceptance of the LoRA export: a LoRA trained (random, nonzero A and B on all seven projections) on a tiny base
/// loaded from a GGUF (interleaved rotary rows) or from an HF directory (half-split rows), extracted and converted;
/// llama.cpp's own libllama loads the base GGUF plus the LoRA GGUF and its logits equal our TorchSharp model with the
/// LoRA applied. Measured (F32, 20 positions × 97 logits): GGUF-trained 1.8e-6, HF-trained 1.9e-6; the same HF LoRA
/// without the wq/wk lora_b row permutation is off by 1.66, and the LoRA moves libllama's logits by up to 2.6–2.7.
/// An F16 LoRA file: 1.1e-3.
/// </summary>
public sealed class LoraLlamaCppParityTests(ITestOutputHelper output)
{
    private static readonly int[] Ids = LoraFixtures.Ids();

    [Theory]
    [InlineData("gguf", "gguf")]   // trained on the GGUF, converted against it: no permutation
    [InlineData("hf", "hf")]       // trained on HF weights: lora_b of wq/wk permuted HF → Meta
    [InlineData("hf", "gguf")]     // the recorded base.rope_layout decides, not the format of the --base given
    public void LibllamaWithTheLora_MatchesTorchSharpWithTheLora_F32(string trainedOn, string convertedAgainst)
    {
        using var f = new LoraFixtures();
        string Base(string which) => which == "hf" ? f.HfDir : f.BaseGguf;
        using var m = WithRandomLora(Base(trainedOn), AllTargets, seed: 31);
        string extract = Extract(m, PeftDescription.Describe(m, AllTargets), f.Dir.Path, "lora");
        LoraConverter.Convert(extract, Base(convertedAgainst), f.Dir["lora.gguf"], GgmlType.F32);

        var ours = Logits(m, Ids);
        var theirs = LlamaCppLogits.Decode(f.BaseGguf, Ids, lora: f.Dir["lora.gguf"]);
        var plain = LlamaCppLogits.Decode(f.BaseGguf, Ids);
        double diff = MaxAbs(ours, theirs), effect = MaxAbs(plain, theirs);
        output.WriteLine($"trained on {trainedOn}, converted against {convertedAgainst}: max |libllama+LoRA − TorchSharp+LoRA| = {diff:E3}; " +
                         $"the LoRA moves libllama's logits by up to {effect:F3}");
        Assert.True(diff <= 1e-3, $"max abs {diff:E3} > 1e-3");
        Assert.True(effect > 0.1, $"the LoRA changed libllama's logits by only {effect}");
    }

    /// <summary>Without the permutation (a description that does not record the layout, converted against the GGUF) the HF-trained LoRA is wrong.</summary>
    [Fact]
    public void HfTrainedLora_WithoutTheRotaryPermutation_DoesNotMatch()
    {
        using var f = new LoraFixtures();
        using var m = WithRandomLora(f.HfDir, AllTargets, seed: 31);
        var description = new Dictionary<string, string>(PeftDescription.Describe(m, AllTargets));
        description.Remove(PeftDescription.RopeLayoutKey);
        string extract = Extract(m, description, f.Dir.Path, "lora");
        LoraConverter.Convert(extract, f.BaseGguf, f.Dir["wrong.gguf"], GgmlType.F32);   // falls back to the GGUF's interleaved layout
        LoraConverter.Convert(extract, f.HfDir, f.Dir["right.gguf"], GgmlType.F32);      // falls back to HF's half-split layout

        var ours = Logits(m, Ids);
        double wrong = MaxAbs(ours, LlamaCppLogits.Decode(f.BaseGguf, Ids, lora: f.Dir["wrong.gguf"]));
        double right = MaxAbs(ours, LlamaCppLogits.Decode(f.BaseGguf, Ids, lora: f.Dir["right.gguf"]));
        output.WriteLine($"HF-trained LoRA: unpermuted lora_b {wrong:E3}, permuted {right:E3}");
        Assert.True(wrong > 1e-2, $"without the permutation the logits still agree ({wrong}): the test cannot see the layout");
        Assert.True(right <= 1e-3, $"{right}");
    }

    [Fact]
    public void F16Lora_LoadsInLibllama_Within1e2()
    {
        using var f = new LoraFixtures();
        using var m = WithRandomLora(f.BaseGguf, AllTargets, seed: 32);
        string extract = Extract(m, PeftDescription.Describe(m, AllTargets), f.Dir.Path, "lora");
        LoraConverter.Convert(extract, f.BaseGguf, f.Dir["lora.f16.gguf"], GgmlType.F16);
        using (var r = GgufReader.Open(f.Dir["lora.f16.gguf"]))
            Assert.All(r.Tensors, t => Assert.Equal(GgmlType.F16, t.Type));
        double diff = MaxAbs(Logits(m, Ids), LlamaCppLogits.Decode(f.BaseGguf, Ids, lora: f.Dir["lora.f16.gguf"]));
        output.WriteLine($"F16 LoRA: max |libllama − TorchSharp| = {diff:E3}");
        Assert.True(diff <= 1e-2, $"{diff}");
    }

    /// <summary>
    /// The file as llama.cpp's convention lays it out: the three keys, alpha as F32, names and ggml shapes
    /// (lora_a ne [in, r], lora_b ne [r, out]), and the numbers as extracted (GGUF-trained: no permutation).
    /// </summary>
    [Fact]
    public void LoraGguf_FollowsLlamaCppsConvention()
    {
        using var f = new LoraFixtures();
        var config = new LoraConfig(Rank: 3, Alpha: 5, Dropout: 0.05, Targets: [Projection.Wq, Projection.Wv, Projection.W2]);
        using var m = WithRandomLora(f.BaseGguf, config, seed: 33);
        string extract = Extract(m, PeftDescription.Describe(m, config), f.Dir.Path, "lora");
        LoraConverter.Convert(extract, f.BaseGguf, f.Dir["lora.gguf"], GgmlType.F32);

        using var r = GgufReader.Open(f.Dir["lora.gguf"]);
        Assert.Equal("adapter", r.Metadata.GetString("general.type"));
        Assert.Equal("lora", r.Metadata.GetString("adapter.type"));
        Assert.Equal("llama", r.Metadata.GetString("general.architecture"));
        Assert.Equal(GgufValueType.Float32, r.Metadata["adapter.lora.alpha"].Type);
        Assert.Equal(5.0, r.Metadata.GetDouble("adapter.lora.alpha"));
        var c = Tiny.Config;
        Assert.Equal(c.NLayers * 3 * 2, r.Tensors.Count);
        Assert.Equal([(long)c.Dim, 3], r.Tensor("blk.0.attn_q.weight.lora_a").Shape);
        Assert.Equal([3L, c.Dim], r.Tensor("blk.0.attn_q.weight.lora_b").Shape);
        Assert.Equal([3L, c.KvDim], r.Tensor("blk.1.attn_v.weight.lora_b").Shape);
        Assert.Equal([(long)c.FfnDim, 3], r.Tensor("blk.2.ffn_down.weight.lora_a").Shape);
        Assert.Equal([3L, c.Dim], r.Tensor("blk.2.ffn_down.weight.lora_b").Shape);
        var named = m.TrainableParameters().ToDictionary(p => p.Name, p => p.Parameter.detach().data<float>().ToArray());
        Assert.Equal(named["layers.1.attention.wq.lora_b"], TinyCheckpoints.Floats(r.Span("blk.1.attn_q.weight.lora_b")).ToArray());
        Assert.Equal(named["layers.2.feed_forward.w2.lora_a"], TinyCheckpoints.Floats(r.Span("blk.2.ffn_down.weight.lora_a")).ToArray());

        // A training checkpoint converts the same as its extract.
        string checkpoint = f.Dir["lora.checkpoint.safetensors"];
        LoraConverter.Convert(checkpoint, f.BaseGguf, f.Dir["from-checkpoint.gguf"], GgmlType.F32);
        Assert.Equal(File.ReadAllBytes(f.Dir["lora.gguf"]).Length, File.ReadAllBytes(f.Dir["from-checkpoint.gguf"]).Length);
        using var r2 = GgufReader.Open(f.Dir["from-checkpoint.gguf"]);
        foreach (var t in r.Tensors) Assert.True(r.Span(t).SequenceEqual(r2.Span(t.Name)), t.Name);
    }

    /// <summary>
    /// Our engine with the LoRA: the base with the LoRA merged (convert --merge-lora, F32) run by GgmlLlamaModel +
    /// LlamaSession equals libllama applying the unmerged LoRA GGUF. Merging the trained .safetensors directly into the
    /// HF base gives the same. Measured: 2.2e-6 (GGUF-trained), 1.3e-6 (HF-trained); libllama on the merged file 2.0e-6.
    /// </summary>
    [Theory]
    [InlineData("gguf")]
    [InlineData("hf")]
    public void MergedIntoTheBase_OurEngineMatchesLibllamaWithTheLora(string trainedOn)
    {
        using var f = new LoraFixtures();
        string basePath = trainedOn == "hf" ? f.HfDir : f.BaseGguf;
        using var m = WithRandomLora(basePath, AllTargets, seed: 34);
        string extract = Extract(m, PeftDescription.Describe(m, AllTargets), f.Dir.Path, "lora");
        LoraConverter.Convert(extract, basePath, f.Dir["lora.gguf"], GgmlType.F32);
        var theirs = LlamaCppLogits.Decode(f.BaseGguf, Ids, lora: f.Dir["lora.gguf"]);

        var options = new LlamaAdapter.Convert.ConvertOptions(LlamaAdapter.Convert.OutputType.F32, Tokenizer: TinyCheckpoints.Tokenizer(97));
        LoraMerger.Convert(f.BaseGguf, f.Dir["lora.gguf"], f.Dir["merged.gguf"], options);
        LoraMerger.Convert(basePath, extract, f.Dir["merged-direct.gguf"], options);

        foreach (var merged in new[] { "merged.gguf", "merged-direct.gguf" })
        {
            float[] flat;
            using (var model = GgmlLlamaModel.Load(f.Dir[merged], threads: 2))
            using (var session = new LlamaSession(model, cacheType: GgmlType.F32))
                flat = session.Evaluate(Ids, allLogits: true);
            var ours = Rows(flat, 97);
            double diff = MaxAbs(ours, theirs), torch = MaxAbs(ours, Logits(m, Ids));
            output.WriteLine($"trained on {trainedOn}, {merged}: max |our engine − libllama+LoRA| = {diff:E3}, |our engine − TorchSharp+LoRA| = {torch:E3}");
            Assert.True(diff <= 1e-3, $"{merged}: {diff:E3}");
            Assert.True(torch <= 1e-3, $"{merged} vs TorchSharp: {torch:E3}");
        }
        // libllama agrees on the merged file too (no adapter).
        double merged2 = MaxAbs(LlamaCppLogits.Decode(f.Dir["merged.gguf"], Ids), theirs);
        output.WriteLine($"libllama on the merged file vs libllama + LoRA: {merged2:E3}");
        Assert.True(merged2 <= 1e-3, $"{merged2}");
    }

    [Fact]
    public void Merge_WritesTheRequestedType_AndKeepsTheOtherTensorsAsTheyWere()
    {
        using var f = new LoraFixtures();
        var config = new LoraConfig(Rank: 2, Alpha: 4, Dropout: 0, Targets: [Projection.Wv]);
        using var m = WithRandomLora(f.BaseGguf, config, seed: 35);
        string extract = Extract(m, PeftDescription.Describe(m, config), f.Dir.Path, "lora");
        LoraMerger.Convert(f.BaseGguf, extract, f.Dir["merged.q8.gguf"],
            new LlamaAdapter.Convert.ConvertOptions(LlamaAdapter.Convert.OutputType.Q8_0));
        using var merged = GgufReader.Open(f.Dir["merged.q8.gguf"]);
        using var plain = GgufReader.Open(f.BaseGguf);
        Assert.Equal(GgmlType.Q8_0, merged.Tensor("blk.0.attn_v.weight").Type);
        Assert.Equal(GgmlType.F32, merged.Tensor("blk.0.attn_norm.weight").Type);
        Assert.True(merged.Span("output_norm.weight").SequenceEqual(plain.Span("output_norm.weight")));
        // W' = W + 2·B·A: dequantized, within Q8_0's error of the merged float weight.
        var w = TinyCheckpoints.Floats(plain.Span("blk.1.attn_v.weight")).ToArray();
        var lora = m.TrainableParameters().ToDictionary(p => p.Name, p => p.Parameter.detach().data<float>().ToArray());
        var pair = new LoraPair(new(Core.Formats.LlamaTensor.AttnV, 1), 2, Tiny.Config.Dim, Tiny.Config.KvDim,
                                lora["layers.1.attention.wv.lora_a"], lora["layers.1.attention.wv.lora_b"]);
        LoraMergedSource.AddDelta(w, pair, 2f);
        var q = new float[w.Length];
        Core.Tensors.Quantizer.Dequantize(GgmlType.Q8_0, merged.Span("blk.1.attn_v.weight"), q, Tiny.Config.KvDim, Tiny.Config.Dim);
        double err = w.Zip(q, (a, b) => Math.Abs(a - b)).Max(), moved = w.Zip(TinyCheckpoints.Floats(plain.Span("blk.1.attn_v.weight")).ToArray(), (a, b) => Math.Abs(a - b)).Max();
        Assert.True(err <= 0.01 * w.Max(Math.Abs), $"Q8_0 of the merged weight off by {err}");
        Assert.True(moved > 0.05, $"the LoRA moved the weight by only {moved}");
    }

    /// <summary>
    /// Our engine applying the unmerged LoRA GGUF in its graph (GgmlLoraAdapter: W·x + scale·B·(A·x), as llama.cpp's
    /// build_lora_mm) equals libllama with the same file, token by token and as one batch, and TorchSharp with the LoRA.
    /// Measured (F32 LoRA): 1.2e-6 / 1.6e-6 token by token, 1.3e-6 / 1.3e-6 batched (GGUF- / HF-trained), 2.1e-6 / 2.7e-6 vs
/// TorchSharp; adapter scale 0.5 1.3e-6. F16 LoRA: 5.2e-4 token by token, 4.8e-4 batched, 1.5e-3 vs TorchSharp (F32).
    /// </summary>
    [Theory]
    [InlineData("gguf", GgmlType.F32)]
    [InlineData("hf", GgmlType.F32)]
    [InlineData("gguf", GgmlType.F16)]
    public void RuntimeLoraInOurEngine_MatchesLibllamaWithTheLora(string trainedOn, GgmlType type)
    {
        using var f = new LoraFixtures();
        string basePath = trainedOn == "hf" ? f.HfDir : f.BaseGguf;
        using var m = WithRandomLora(basePath, AllTargets, seed: 36);
        string extract = Extract(m, PeftDescription.Describe(m, AllTargets), f.Dir.Path, "lora");
        LoraConverter.Convert(extract, basePath, f.Dir["lora.gguf"], type);
        var theirs = LlamaCppLogits.Decode(f.BaseGguf, Ids, lora: f.Dir["lora.gguf"]);
        var half = LlamaCppLogits.Decode(f.BaseGguf, Ids, lora: f.Dir["lora.gguf"], loraScale: 0.5f);

        using var model = GgmlLlamaModel.Load(f.BaseGguf, threads: 2);
        using var lora = GgmlLoraAdapter.Load(f.Dir["lora.gguf"], model);
        using var halfLora = GgmlLoraAdapter.Load(f.Dir["lora.gguf"], model, scale: 0.5f);
        Assert.Equal(Tiny.Config.NLayers * 7, lora.Count);
        float[][] batch, steps, halfBatch;
        using (var session = new LlamaSession(model, cacheType: GgmlType.F32, lora: lora))
        {
            batch = Rows(session.Evaluate(Ids, allLogits: true), 97);
            session.Reset();
            steps = Ids.Select(id => session.Evaluate([id])).ToArray();
        }
        using (var session = new LlamaSession(model, cacheType: GgmlType.F32, lora: halfLora))
            halfBatch = Rows(session.Evaluate(Ids, allLogits: true), 97);
        double stepDiff = MaxAbs(steps, theirs), batchDiff = MaxAbs(batch, theirs), halfDiff = MaxAbs(halfBatch, half);
        double torch = MaxAbs(batch, Logits(m, Ids)), halfEffect = MaxAbs(half, theirs);
        output.WriteLine($"{trainedOn}-trained, {type} LoRA: max |our engine − libllama| token by token {stepDiff:E3}, batched {batchDiff:E3}, " +
                         $"scale 0.5 {halfDiff:E3} (scale 0.5 vs 1 differ by {halfEffect:F3}); our engine vs TorchSharp+LoRA {torch:E3}");
        double tol = type == GgmlType.F32 ? 1e-3 : 3e-3;
        Assert.True(stepDiff <= tol, $"token by token {stepDiff:E3}");
        Assert.True(batchDiff <= tol, $"batched {batchDiff:E3}");
        Assert.True(halfDiff <= tol, $"scale 0.5: {halfDiff:E3}");
        Assert.True(halfEffect > 0.05, $"the adapter scale changed libllama's logits by only {halfEffect}");
        Assert.True(torch <= (type == GgmlType.F32 ? 1e-3 : 1e-2), $"vs TorchSharp {torch:E3}");
    }

    /// <summary>
    /// A LoRA GGUF that also adapts output.weight (llama.cpp's convention allows it; our trainer never makes one):
    /// our engine's runtime branch and the merge agree with libllama.
    /// </summary>
    [Fact]
    public void LoraOnOutputWeight_RuntimeAndMerge_MatchLibllama()
    {
        using var f = new LoraFixtures();
        var c = Tiny.Config;
        var rng = new Random(7);
        float[] R(long n, double s) => Enumerable.Range(0, (int)n).Select(_ => (float)(s * (2 * rng.NextDouble() - 1))).ToArray();
        var lora = new LoraWeights(3f,
        [
            new LoraPair(new(Core.Formats.LlamaTensor.Output), 3, c.Dim, c.VocabSize, R(3 * c.Dim, 0.2), R(c.VocabSize * 3, 0.3)),
            new LoraPair(new(Core.Formats.LlamaTensor.AttnK, 1), 3, c.Dim, c.KvDim, R(3 * c.Dim, 0.2), R(c.KvDim * 3, 0.3)),
        ]);
        LoraGguf.Write(lora, f.Dir["lora.gguf"], GgmlType.F32);
        var theirs = LlamaCppLogits.Decode(f.BaseGguf, Ids, lora: f.Dir["lora.gguf"]);
        Assert.True(MaxAbs(theirs, LlamaCppLogits.Decode(f.BaseGguf, Ids)) > 0.1);

        using (var model = GgmlLlamaModel.Load(f.BaseGguf, threads: 2))
        using (var adapter = GgmlLoraAdapter.Load(f.Dir["lora.gguf"], model))
        using (var session = new LlamaSession(model, cacheType: GgmlType.F32, lora: adapter))
        {
            double d = MaxAbs(Rows(session.Evaluate(Ids, allLogits: true), 97), theirs);
            output.WriteLine($"output.weight LoRA, runtime: {d:E3}");
            Assert.True(d <= 1e-3, $"{d:E3}");
        }
        LoraMerger.Convert(f.BaseGguf, f.Dir["lora.gguf"], f.Dir["merged.gguf"], new LlamaAdapter.Convert.ConvertOptions(LlamaAdapter.Convert.OutputType.F32));
        using (var model = GgmlLlamaModel.Load(f.Dir["merged.gguf"], threads: 2))
        using (var session = new LlamaSession(model, cacheType: GgmlType.F32))
        {
            double d = MaxAbs(Rows(session.Evaluate(Ids, allLogits: true), 97), theirs);
            output.WriteLine($"output.weight LoRA, merged: {d:E3}");
            Assert.True(d <= 1e-3, $"{d:E3}");
        }
    }

    /// <summary>
    /// The LoRA over a quantized base (Q8_0 weights, F32 LoRA): our engine's runtime branch and libllama multiply with
    /// the same ggml kernels, so they agree as closely as on the plain Q8_0 model. Measured: bit-identical (0) token by
    /// token; 0.071 from TorchSharp on the unquantized weights.
    /// </summary>
    [Fact]
    public void RuntimeLora_OverAQ8_0Base_MatchesLibllama()
    {
        using var f = new LoraFixtures();
        LlamaAdapter.Convert.ModelConverter.Convert(f.HfDir, f.Dir["base.q8.gguf"],
            new LlamaAdapter.Convert.ConvertOptions(LlamaAdapter.Convert.OutputType.Q8_0, Tokenizer: TinyCheckpoints.Tokenizer(97)));
        using var m = WithRandomLora(f.BaseGguf, AllTargets, seed: 37);
        string extract = Extract(m, PeftDescription.Describe(m, AllTargets), f.Dir.Path, "lora");
        LoraConverter.Convert(extract, f.Dir["base.q8.gguf"], f.Dir["lora.gguf"], GgmlType.F32);
        var theirs = LlamaCppLogits.Decode(f.Dir["base.q8.gguf"], Ids, lora: f.Dir["lora.gguf"]);
        using var model = GgmlLlamaModel.Load(f.Dir["base.q8.gguf"], threads: 2);
        using var lora = GgmlLoraAdapter.Load(f.Dir["lora.gguf"], model);
        using var session = new LlamaSession(model, cacheType: GgmlType.F32, lora: lora);
        var steps = Ids.Select(id => session.Evaluate([id])).ToArray();
        double diff = MaxAbs(steps, theirs), quantization = MaxAbs(steps, Logits(m, Ids));
        output.WriteLine($"Q8_0 base + F32 LoRA: max |our engine − libllama| {diff:E3} (vs TorchSharp on the float weights {quantization:F3})");
        Assert.True(diff <= 1e-4, $"{diff:E3}");
    }
}
