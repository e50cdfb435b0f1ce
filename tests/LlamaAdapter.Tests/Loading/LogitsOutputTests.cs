using System.Runtime.InteropServices;
using System.Text.Json;
using LlamaAdapter.Convert.Adapters;
using LlamaAdapter.Convert.Lora;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Adapters;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Tests.Inference;
using LlamaAdapter.Tests.Model;
using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Checkpoints;
using LlamaAdapter.Training.Loading;
using LlamaAdapter.Training.Model;
using LlamaAdapter.Training.Peft;
using LlamaAdapter.Training.Pipeline;
using Xunit.Abstractions;
using static LlamaAdapter.Tests.Convert.TinyCheckpoints;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Loading;

/// <summary>
/// The <c>logits</c> command's interface (issue 4): <c>--out F</c> holds every position's logits [T × vocab] float32 LE
/// row-major plus F.json, from the torch model and the ggml engine alike; <c>--adapter</c> on the torch backend
/// (extract file, training checkpoint, PEFT directory) gives the logits the ggml engine gives with the same adapter
/// converted to an adapter GGUF.
/// </summary>
public sealed class LogitsOutputTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("logits-out-").FullName;
    private readonly TinyLlama _tiny = new(TinyLlama.DefaultConfig(), seed: 31); // 3 layers, 4 heads, 2 KV heads, dim 64, vocab 97

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    private static float[] ReadF32(string path) => MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(path)).ToArray();

    private static float[] Forward(LlamaModel m, long[] ids)
    {
        using var _ = no_grad();
        using var logits = m.forward(tensor(ids, [1, ids.Length], ScalarType.Int64));
        return logits.contiguous().data<float>().ToArray(); // [1, T, vocab]
    }

    private static float[] Ggml(string model, string? adapter, long[] ids)
    {
        using var gm = GgmlLlamaModel.Load(model);
        using var ga = adapter is null ? null : GgmlPromptAdapter.Load(adapter, gm);
        using var s = new LlamaSession(gm, ga, contextSize: ids.Length, cacheType: GgmlType.F32);
        return s.Evaluate(ids.Select(i => (int)i).ToArray(), allLogits: true);
    }

    [Fact]
    public void Out_HoldsEveryPosition_TorchAndGgml_WithShapeJson()
    {
        using var scope = NewDisposeScope();
        TinyGguf.WriteModel(_tiny, P("m.gguf"));
        long[] ids = [1, 5, 96, 0, 42, 7, 13];
        int v = _tiny.Config.VocabSize;

        // torch: ComputeAll is the model's own forward at every position, written byte for byte.
        using var model = PretrainedLlama.Load(P("m.gguf"));
        var all = NextTokenLogits.ComputeAll(model, ids);
        Assert.Equal(Forward(model, ids), all);
        Assert.Equal(NextTokenLogits.Compute(model, ids), all.AsSpan((ids.Length - 1) * v, v).ToArray());
        NextTokenLogits.WriteMatrix(P("t.f32"), all, ids.Length, v, new Dictionary<string, object?>
        {
            ["model"] = P("m.gguf"), ["backend"] = "torch", ["adapter"] = null, ["tokens"] = ids,
        });
        Assert.Equal(ids.Length * v * 4, new FileInfo(P("t.f32")).Length);
        Assert.Equal(all, ReadF32(P("t.f32")));
        using (var doc = JsonDocument.Parse(File.ReadAllText(P("t.f32.json"))))
        {
            var r = doc.RootElement;
            Assert.Equal([ids.Length, v], r.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
            Assert.Equal("float32", r.GetProperty("dtype").GetString());
            Assert.Equal("little", r.GetProperty("byte_order").GetString());
            Assert.Equal("row-major", r.GetProperty("layout").GetString());
            Assert.Equal("torch", r.GetProperty("backend").GetString());
            Assert.Equal(JsonValueKind.Null, r.GetProperty("adapter").ValueKind);
            Assert.Equal(ids, r.GetProperty("tokens").EnumerateArray().Select(e => e.GetInt64()));
            Assert.Equal(P("m.gguf"), r.GetProperty("model").GetString());
        }
        Assert.DoesNotContain(Directory.GetFiles(_dir), f => f.EndsWith(".tmp", StringComparison.Ordinal));

        // ggml: allLogits is [T, vocab] row-major, row t the prediction after ids[0..t] (each checked against the
        // prefix evaluated alone), and within 1e-4 of the torch forward.
        var g = Ggml(P("m.gguf"), null, ids);
        Assert.Equal(all.Length, g.Length);
        double diff = EngineParityTests.MaxAbsDiff(all, g);
        output.WriteLine($"max |ggml − torch| over {ids.Length}×{v} = {diff:E3}");
        Assert.True(diff <= 1e-4, $"ggml vs torch {diff:E3} > 1e-4");
        for (int t = 0; t < ids.Length; t++)
        {
            using var gm = GgmlLlamaModel.Load(P("m.gguf"));
            using var s = new LlamaSession(gm, contextSize: t + 1, cacheType: GgmlType.F32);
            var lastOnly = s.Evaluate(ids.Take(t + 1).Select(i => (int)i).ToArray());
            Assert.True(EngineParityTests.MaxAbsDiff(lastOnly, g.AsSpan(t * v, v).ToArray()) <= 1e-5, $"row {t} is not position {t}'s logits");
        }

        // Rewriting with another shape replaces both files.
        NextTokenLogits.WriteMatrix(P("t.f32"), all.AsSpan(0, 2 * v).ToArray(), 2, v, new Dictionary<string, object?>());
        Assert.Equal(2 * v * 4, new FileInfo(P("t.f32")).Length);
        using (var doc = JsonDocument.Parse(File.ReadAllText(P("t.f32.json"))))
            Assert.Equal([2, v], doc.RootElement.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Throws<ArgumentException>(() => NextTokenLogits.WriteMatrix(P("u.f32"), new float[5], 2, v, new Dictionary<string, object?>()));
        Assert.False(File.Exists(P("u.f32")));
    }

    /// <summary>A trained-looking adapter on the GGUF-layout reference model, written as extract writes it.</summary>
    private (LlamaModel Reference, AdapterConfig Config) WriteExtract(AdapterConfig a, string path)
    {
        var reference = _tiny.Build();
        var adapter = reference.AttachNewAdapter(a, new Generator(5));
        AdapterReference.Perturb(adapter);
        var md = new Dictionary<string, string> { ["format"] = AdapterExtractor.FormatName };
        foreach (var (k, val) in AdapterDescription.Describe(reference, a)) md["adapter." + k] = val;
        var ps = reference.TrainableParameters().Select(p => (p.Name, p.Parameter.shape, p.Parameter.detach().contiguous().data<float>().ToArray())).ToList();
        using var w = new SafetensorsWriter(path, ps.Select(p => new SafetensorsTensorDecl(p.Name, SafetensorsDType.F32, p.shape)), md);
        foreach (var p in ps) w.WriteTensor(p.Name, MemoryMarshal.AsBytes(p.Item3.AsSpan()));
        w.Commit();
        return (reference, a);
    }

    [Theory]
    [InlineData(AdapterKind.Linear, GateMode.PerHeadTanh)]
    [InlineData(AdapterKind.Linear, GateMode.PerHeadRaw)]
    [InlineData(AdapterKind.Nonlinear, GateMode.PerHeadTanh)]
    [InlineData(AdapterKind.Prefix, GateMode.PerHeadTanh)]
    public void TorchWithAdapterFile_EqualsGgmlWithConvertedAdapter(AdapterKind kind, GateMode gate)
    {
        using var scope = NewDisposeScope();
        TinyGguf.WriteModel(_tiny, P("m.gguf"));
        WriteHf(P("hf"), _tiny);
        var (reference, _) = WriteExtract(new AdapterConfig(kind, PromptLength: 4, Layers: 2, Gate: gate, HyperEmbedDim: 8, HyperHidden: 16), P("a.safetensors"));
        long[] ids = [1, 5, 96, 0, 42, 7, 13, 60];

        // torch on the GGUF (Meta layout, like the reference) and on the HF directory (half-split rows).
        using var fromGguf = PretrainedLlama.Load(P("m.gguf"));
        var plain = NextTokenLogits.ComputeAll(fromGguf, ids);
        string what = TorchAdapters.Attach(fromGguf, P("m.gguf"), P("a.safetensors"));
        Assert.Contains(AdapterFile.Snake(kind.ToString()), what);
        var torchGguf = NextTokenLogits.ComputeAll(fromGguf, ids);
        Assert.True(EngineParityTests.MaxAbsDiff(Forward(reference, ids), torchGguf) <= 1e-6, "the attached adapter is not the one trained");
        using var fromHf = PretrainedLlama.Load(P("hf"));
        TorchAdapters.Attach(fromHf, P("hf"), P("a.safetensors"));
        var torchHf = NextTokenLogits.ComputeAll(fromHf, ids);

        // ggml with the same adapter converted to an adapter GGUF.
        AdapterConverter.Convert(P("a.safetensors"), P("m.gguf"), P("a.gguf"));
        var ggml = Ggml(P("m.gguf"), P("a.gguf"), ids);

        double effect = EngineParityTests.MaxAbsDiff(plain, torchGguf);
        double dGgml = EngineParityTests.MaxAbsDiff(ggml, torchGguf), dHf = EngineParityTests.MaxAbsDiff(torchHf, torchGguf);
        output.WriteLine($"{kind}/{gate}: adapter moves logits by {effect:F3}; |ggml − torch| {dGgml:E3}; |torch HF − torch GGUF| {dHf:E3}");
        Assert.True(effect > 0.1, $"the adapter must change the logits visibly (moved {effect:E3})");
        Assert.True(dGgml <= 1e-4, $"ggml vs torch with the adapter: {dGgml:E3} > 1e-4");
        Assert.True(dHf <= 1e-4, $"HF vs GGUF base with the adapter: {dHf:E3} > 1e-4");

        // The same adapter as a training checkpoint, and as a run folder holding it.
        Directory.CreateDirectory(P("run"));
        new TrainingCheckpoint
        {
            Step = 3, Epoch = 0, BatchInEpoch = 3, EpochOrder = [], Train = [], Validation = [], TorchRngState = [],
            Hyperparameters = "{}", DataFingerprint = "d", BaseModelFingerprint = "b",
            Adapter = AdapterDescription.Describe(reference, reference.Adapter!.Config),
            Parameters = reference.TrainableParameters().ToDictionary(p => p.Name, p => TorchTensors.ToStored(p.Name, p.Parameter)),
            Optimizer = new Dictionary<string, AdamWSlot>(),
        }.Save(CheckpointDirectory.PathFor(P("run"), 3));
        using var fromRun = PretrainedLlama.Load(P("m.gguf"));
        TorchAdapters.Attach(fromRun, P("m.gguf"), P("run"));
        Assert.Equal(torchGguf, NextTokenLogits.ComputeAll(fromRun, ids));
    }

    private void WritePeft(string dir, int k, int l)
    {
        var c = _tiny.Config;
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "adapter_config.json"),
            $$"""{"peft_type": "ADAPTION_PROMPT", "adapter_len": {{l}}, "adapter_layers": {{k}}, "target_modules": "self_attn"}""");
        var rng = new Random(8);
        var data = new Dictionary<string, (long[] Shape, float[] V)>();
        for (int layer = c.NLayers - k; layer < c.NLayers; layer++)
        {
            data[PeftAdaptionPrompt.PromptName(layer)] = ([1, l, c.Dim], Enumerable.Range(0, l * c.Dim).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray());
            data[PeftAdaptionPrompt.GateName(layer)] = ([1], [0.5f * layer]);
        }
        using var w = new SafetensorsWriter(Path.Combine(dir, "adapter_model.safetensors"), data.Select(d => new SafetensorsTensorDecl(d.Key, SafetensorsDType.F32, d.Value.Shape)));
        foreach (var d in data) w.WriteTensor(d.Key, MemoryMarshal.AsBytes(d.Value.V.AsSpan()));
        w.Commit();
    }

    [Fact]
    public void TorchWithPeftDirectory_EqualsPeftImport_AndGgml()
    {
        using var scope = NewDisposeScope();
        WriteHf(P("hf"), _tiny);
        TinyGguf.WriteModel(_tiny, P("m.gguf"));
        WritePeft(P("peft"), k: 2, l: 4);
        long[] ids = [1, 5, 96, 0, 42, 7];

        using var viaCommand = PretrainedLlama.Load(P("hf"));
        var plain = NextTokenLogits.ComputeAll(viaCommand, ids);
        Assert.Contains("PEFT", TorchAdapters.Attach(viaCommand, P("hf"), P("peft")));
        var ours = NextTokenLogits.ComputeAll(viaCommand, ids);

        using var direct = PretrainedLlama.Load(P("hf"));
        var tensors = new Dictionary<string, Tensor>();
        using (var r = SafetensorsReader.Open(Path.Combine(P("peft"), "adapter_model.safetensors")))
            foreach (var t in r.Tensors) tensors[t.Name] = tensor(MemoryMarshal.Cast<byte, float>(r.GetBytes(t.Name)).ToArray(), t.Shape);
        direct.AttachAdapter(PeftAdaptionPrompt.Import(direct.Config, File.ReadAllText(Path.Combine(P("peft"), "adapter_config.json")), tensors, "peft"));
        Assert.Equal(Forward(direct, ids), ours);
        Assert.True(EngineParityTests.MaxAbsDiff(plain, ours) > 0.1, "the PEFT adapter must change the logits");

        AdapterConverter.Convert(P("peft"), P("hf"), P("p.gguf"));
        double d = EngineParityTests.MaxAbsDiff(Ggml(P("m.gguf"), P("p.gguf"), ids), ours);
        output.WriteLine($"PEFT: |ggml − torch| {d:E3}");
        Assert.True(d <= 1e-4, $"ggml vs torch with the PEFT adapter: {d:E3} > 1e-4");
    }

    [Fact]
    public void TorchWithLoraRun_EqualsTheTrainedModel_AndGgmlWithLoraGguf()
    {
        using var scope = NewDisposeScope();
        TinyGguf.WriteModel(_tiny, P("m.gguf"));
        WriteHf(P("hf"), _tiny);
        var lora = new LoraConfig(Rank: 2, Alpha: 3, Dropout: 0, Targets: [Projection.Wq, Projection.Wk, Projection.Wv, Projection.Wo, Projection.W2]);
        var reference = _tiny.Build();
        reference.AttachLora(lora, new Generator(9));
        var g = new Generator(10);
        using (no_grad())
            foreach (var (name, p) in reference.TrainableParameters())
                if (name.EndsWith(".lora_b", StringComparison.Ordinal)) p.copy_(randn(p.shape, generator: g) * 0.3);
        var md = new Dictionary<string, string> { ["format"] = AdapterExtractor.FormatName };
        foreach (var (k, val) in PeftDescription.Describe(reference, lora)) md["adapter." + k] = val;
        var ps = reference.TrainableParameters().Select(p => (p.Name, p.Parameter.shape, p.Parameter.detach().contiguous().data<float>().ToArray())).ToList();
        using (var w = new SafetensorsWriter(P("lora.safetensors"), ps.Select(p => new SafetensorsTensorDecl(p.Name, SafetensorsDType.F32, p.shape)), md))
        {
            foreach (var p in ps) w.WriteTensor(p.Name, MemoryMarshal.AsBytes(p.Item3.AsSpan()));
            w.Commit();
        }
        long[] ids = [1, 5, 96, 0, 42, 7];
        var expected = Forward(reference, ids);

        using var fromGguf = PretrainedLlama.Load(P("m.gguf"));
        var plain = NextTokenLogits.ComputeAll(fromGguf, ids);
        Assert.Contains("LoRA", TorchAdapters.Attach(fromGguf, P("m.gguf"), P("lora.safetensors")));
        var ours = NextTokenLogits.ComputeAll(fromGguf, ids);
        // The HF base holds wq/wk rows half-split: B's rows must follow.
        using var fromHf = PretrainedLlama.Load(P("hf"));
        TorchAdapters.Attach(fromHf, P("hf"), P("lora.safetensors"));
        var oursHf = NextTokenLogits.ComputeAll(fromHf, ids);

        LoraConverter.Convert(P("lora.safetensors"), P("m.gguf"), P("lora.gguf"), GgmlType.F32);
        float[] ggml;
        using (var gm = GgmlLlamaModel.Load(P("m.gguf")))
        using (var gl = GgmlLoraAdapter.Load(P("lora.gguf"), gm))
        using (var s = new LlamaSession(gm, contextSize: ids.Length, cacheType: GgmlType.F32, lora: gl))
            ggml = s.Evaluate(ids.Select(i => (int)i).ToArray(), allLogits: true);

        double effect = EngineParityTests.MaxAbsDiff(plain, ours), d = EngineParityTests.MaxAbsDiff(expected, ours),
               dHf = EngineParityTests.MaxAbsDiff(expected, oursHf), dGgml = EngineParityTests.MaxAbsDiff(ggml, ours);
        output.WriteLine($"LoRA: moves logits by {effect:F3}; |torch − trained| {d:E3}; HF base {dHf:E3}; |ggml − torch| {dGgml:E3}");
        Assert.True(effect > 0.1, $"the LoRA must change the logits visibly (moved {effect:E3})");
        Assert.True(d <= 1e-5 && dHf <= 1e-4 && dGgml <= 1e-4, $"LoRA logits differ: {d:E3}, HF {dHf:E3}, ggml {dGgml:E3}");
    }

    [Fact]
    public void BadInputs_AreClearErrors()
    {
        using var scope = NewDisposeScope();
        Assert.Equal([1L, 450, 4996], NextTokenLogits.ParseTokens("1, 450,4996", null));
        Assert.Equal([7L], NextTokenLogits.ParseTokens(null, "7"));
        Assert.Contains("--tokens and --prompt-ids", Assert.Throws<BadInputException>(() => NextTokenLogits.ParseTokens("1", "2")).Message);
        Assert.Contains("--tokens: required", Assert.Throws<BadInputException>(() => NextTokenLogits.ParseTokens(null, null)).Message);
        Assert.Contains("--prompt-ids: item 2 'x'", Assert.Throws<BadInputException>(() => NextTokenLogits.ParseTokens(null, "1,x")).Message);
        Assert.Contains("--tokens: item 1 '-3'", Assert.Throws<BadInputException>(() => NextTokenLogits.ParseTokens("-3", null)).Message);

        TinyGguf.WriteModel(_tiny, P("m.gguf"));
        WriteExtract(new AdapterConfig(AdapterKind.Linear, PromptLength: 4, Layers: 2), P("a.safetensors"));

        // The same shape, one wv weight changed: another model.
        var other = _tiny.With(_tiny.Config, (n, v) => n == "layers.2.attention.wv.weight" ? v.Select((x, i) => i == 0 ? x + 1e-3f : x).ToArray() : v);
        TinyGguf.WriteModel(other, P("other.gguf"));
        using (var m = PretrainedLlama.Load(P("other.gguf")))
        {
            var e = Assert.Throws<BadInputException>(() => TorchAdapters.Attach(m, P("other.gguf"), P("a.safetensors")));
            Assert.Contains("wkv_sha256", e.Message);
            Assert.Contains("another model", e.Message);
            Assert.Null(m.Adapter);
        }
        // Another shape: one layer fewer.
        var small = new TinyLlama(_tiny.Config with { NLayers = 2 }, seed: 31);
        TinyGguf.WriteModel(small, P("small.gguf"));
        using (var m = PretrainedLlama.Load(P("small.gguf")))
            Assert.Contains("adapter.base.block_count", Assert.Throws<BadInputException>(() => TorchAdapters.Attach(m, P("small.gguf"), P("a.safetensors"))).Message);

        using var model = PretrainedLlama.Load(P("m.gguf"));
        // An adapter GGUF belongs to the ggml backend.
        AdapterConverter.Convert(P("a.safetensors"), P("m.gguf"), P("a.gguf"));
        Assert.Contains("--backend ggml", Assert.Throws<BadInputException>(() => TorchAdapters.Attach(model, P("m.gguf"), P("a.gguf"))).Message);
        // A PEFT adapter is keyed through HF's wk rows: it needs the HF base.
        WritePeft(P("peft"), 2, 4);
        Assert.Contains("HF directory", Assert.Throws<BadInputException>(() => TorchAdapters.Attach(model, P("m.gguf"), P("peft"))).Message);
        Directory.CreateDirectory(P("empty"));
        Assert.Contains("neither adapter_config.json", Assert.Throws<BadInputException>(() => TorchAdapters.Attach(model, P("m.gguf"), P("empty"))).Message);
        Assert.Contains("no such file", Assert.Throws<BadInputException>(() => TorchAdapters.Attach(model, P("m.gguf"), P("missing.safetensors"))).Message);
        Assert.Null(model.Adapter);
    }
}
