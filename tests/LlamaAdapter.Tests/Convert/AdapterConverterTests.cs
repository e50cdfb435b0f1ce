using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using LlamaAdapter.Convert.Adapters;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Tests.Model;
using static LlamaAdapter.Tests.Convert.TinyCheckpoints;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Convert;

/// <summary>Adapter → adapter GGUF (docs/adapter-gguf.md) over an HF base (so wk rows must be un-permuted): prompts,
/// keys and values equal the TorchSharp adapter's and an independent double-precision projection.</summary>
public class AdapterConverterTests
{
    private static readonly TinyLlama Tiny = new(TinyLlama.DefaultConfig(), seed: 21); // 3 layers, 4 heads, 2 KV heads, dim 64
    private const int K = 2, L = 5;

    private static string I(int v) => v.ToString(CultureInfo.InvariantCulture);

    /// <summary>The fingerprint computed independently from the Meta-layout floats.</summary>
    private static string WkvSha(TinyLlama m, int first)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (int l = first; l < m.Config.NLayers; l++)
            foreach (var w in new[] { "wk", "wv" })
                h.AppendData(MemoryMarshal.AsBytes(m.Data[$"layers.{l}.attention.{w}.weight"].AsSpan()));
        return System.Convert.ToHexStringLower(h.GetHashAndReset());
    }

    private static Dictionary<string, string> Metadata(AdapterConfig a, TinyLlama m, string? sha = null)
    {
        var c = m.Config;
        var d = new Dictionary<string, string>
        {
            ["format"] = "llama-adapter/adapter-1",
            ["adapter.kind"] = AdapterFile.Snake(a.Kind.ToString()), ["adapter.prompt_length"] = I(a.PromptLength),
            ["adapter.layer_count"] = I(a.Layers), ["adapter.first_layer"] = I(c.NLayers - a.Layers),
            ["adapter.base.embedding_length"] = I(c.Dim), ["adapter.base.block_count"] = I(c.NLayers),
            ["adapter.base.head_count"] = I(c.NHeads), ["adapter.base.head_count_kv"] = I(c.NKvHeads),
            ["adapter.base.vocab_size"] = I(c.VocabSize), ["adapter.base.wkv_sha256"] = sha ?? WkvSha(m, c.NLayers - a.Layers),
        };
        if (a.Kind != AdapterKind.Prefix) d["adapter.gate_mode"] = AdapterFile.Snake(a.Gate.ToString());
        if (a.Kind == AdapterKind.Nonlinear)
        {
            d["adapter.hyper.embedding_length"] = I(a.HyperEmbedDim);
            d["adapter.hyper.hidden_length"] = I(a.HyperHidden);
            d["adapter.hyper.activation"] = AdapterFile.Snake(a.HyperActivation.ToString());
        }
        return d;
    }

    /// <summary>A trained-looking adapter: its parameters randomised (gates nonzero, prompt bias nonzero).</summary>
    private static PromptAdapter MakeAdapter(AdapterConfig a, int seed)
    {
        var g = new TorchSharp.torch.Generator((ulong)seed);
        var adapter = PromptAdapter.Create(Tiny.Config, a, generator: g);
        using var _ = no_grad();
        foreach (var (name, p) in adapter.named_parameters())
            if (name is "gates" or "hyper.prompt.bias") p.copy_(randn(p.shape, generator: g) * 0.5);
        return adapter;
    }

    private static void WriteExtract(string path, PromptAdapter adapter, Dictionary<string, string> md)
    {
        var ps = adapter.named_parameters().Select(p => ("adapter." + p.name, p.parameter.shape, p.parameter.detach().contiguous().data<float>().ToArray())).ToList();
        using var w = new SafetensorsWriter(path, ps.Select(p => new SafetensorsTensorDecl(p.Item1, SafetensorsDType.F32, p.shape)), md);
        foreach (var p in ps) w.WriteTensor(p.Item1, MemoryMarshal.AsBytes(p.Item3.AsSpan()));
        w.Commit();
    }

    private static float[] F(GgufReader r, string name) => MemoryMarshal.Cast<byte, float>(r.Span(name)).ToArray();

    /// <summary>prompt [L, dim] · wᵀ (w [kv_dim, dim], Meta rows) in double → [L, kv_dim].</summary>
    private static double[] Project(float[] prompt, float[] w, int dim, int kvDim)
    {
        var y = new double[L * kvDim];
        for (int i = 0; i < L; i++)
            for (int o = 0; o < kvDim; o++)
            {
                double s = 0;
                for (int j = 0; j < dim; j++) s += (double)prompt[i * dim + j] * w[o * dim + j];
                y[i * kvDim + o] = s;
            }
        return y;
    }

    private static void AssertClose(double[] expected, float[] actual, double tol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double max = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(max <= tol, $"{what}: max abs error {max:E3} > {tol}");
    }

    [Theory]
    [InlineData(AdapterKind.Linear, GateMode.PerHeadTanh)]
    [InlineData(AdapterKind.Nonlinear, GateMode.PerHeadRaw)]
    [InlineData(AdapterKind.Prefix, GateMode.PerHeadTanh)]
    public void Extract_ToAdapterGguf_MatchesTorchSharpAdapter(AdapterKind kind, GateMode gate)
    {
        using var scope = NewDisposeScope();
        var a = new AdapterConfig(kind, PromptLength: L, Layers: K, Gate: gate, HyperEmbedDim: 8, HyperHidden: 16);
        var adapter = MakeAdapter(a, seed: 3);
        using var tmp = new TempDir();
        WriteHf(tmp["hf"], Tiny);
        WriteExtract(tmp["a.safetensors"], adapter, Metadata(a, Tiny));
        AdapterConverter.Convert(tmp["a.safetensors"], tmp["hf"], tmp["a.gguf"]);

        using var r = GgufReader.Open(tmp["a.gguf"]);
        var md = r.Metadata;
        var c = Tiny.Config;
        int first = c.NLayers - K;
        Assert.Equal("adapter", md.GetString("general.type"));
        Assert.Equal("llama_adapter_prompt", md.GetString("adapter.type"));
        Assert.Equal(AdapterFile.Snake(kind.ToString()), md.GetString("llama_adapter.kind"));
        Assert.Equal(first, md.GetInt64("llama_adapter.first_layer"));
        Assert.Equal(WkvSha(Tiny, first), md.GetString("llama_adapter.base.wkv_sha256"));
        Assert.Equal(kind != AdapterKind.Prefix, md.ContainsKey("llama_adapter.gate_mode"));

        // What the TorchSharp adapter computes on the Meta-layout model: LayerPrompts, then PromptKeysValues with its wk/wv.
        var prompts = adapter.LayerPrompts(ScalarType.Float32);
        var rawGates = kind == AdapterKind.Prefix ? null : adapter.named_parameters().First(p => p.name == "gates").parameter.data<float>().ToArray();
        for (int k = 0; k < K; k++)
        {
            int layer = first + k;
            var p = prompts[k].Prompt.contiguous().data<float>().ToArray();
            Assert.Equal([c.Dim, L], r.Tensor($"blk.{layer}.adapter_prompt").Shape);
            Assert.Equal([c.KvDim, L], r.Tensor($"blk.{layer}.adapter_k").Shape);
            Assert.Equal(p, F(r, $"blk.{layer}.adapter_prompt"));
            var wk = Tiny.Data[$"layers.{layer}.attention.wk.weight"];
            var wv = Tiny.Data[$"layers.{layer}.attention.wv.weight"];
            AssertClose(Project(p, wk, c.Dim, c.KvDim), F(r, $"blk.{layer}.adapter_k"), 1e-5, $"layer {layer} keys");
            AssertClose(Project(p, wv, c.Dim, c.KvDim), F(r, $"blk.{layer}.adapter_v"), 1e-5, $"layer {layer} values");
            var (keys, _) = GatedPromptAttention.PromptKeysValues(prompts[k].Prompt, tensor(wk, c.KvDim, c.Dim), tensor(wv, c.KvDim, c.Dim), c.NKvHeads, 1);
            // the same op; only the GEMM's summation order may differ (the slice's alignment picks the kernel)
            AssertClose(keys.transpose(1, 2).reshape(L, c.KvDim).contiguous().data<float>().ToArray().Select(x => (double)x).ToArray(),
                        F(r, $"blk.{layer}.adapter_k"), 1e-6, $"layer {layer} keys vs PromptKeysValues");
            if (rawGates is null) Assert.False(r.TryGetTensor($"blk.{layer}.adapter_gate", out _));
            else Assert.Equal(rawGates.AsSpan(k * c.NHeads, c.NHeads).ToArray(), F(r, $"blk.{layer}.adapter_gate"));
        }
        Assert.Equal(kind == AdapterKind.Nonlinear, r.TryGetTensor("adapter.hyper.prompt.weight", out _));
    }

    [Fact]
    public void WrongBase_FingerprintRefused_NoOutput()
    {
        using var scope = NewDisposeScope();
        var a = new AdapterConfig(AdapterKind.Linear, PromptLength: L, Layers: K);
        using var tmp = new TempDir();
        var other = Tiny.With(Tiny.Config, (n, v) => n == "layers.2.attention.wv.weight" ? v.Select((x, i) => i == 0 ? x + 1e-3f : x).ToArray() : v);
        WriteHf(tmp["hf"], other);
        WriteExtract(tmp["a.safetensors"], MakeAdapter(a, 4), Metadata(a, Tiny));
        var e = Assert.ThrowsAny<BadInputException>(() => AdapterConverter.Convert(tmp["a.safetensors"], tmp["hf"], tmp["a.gguf"]));
        Assert.Contains("fingerprint", e.Message);
        Assert.Contains(WkvSha(Tiny, 1), e.Message);
        Assert.False(File.Exists(tmp["a.gguf"]));
    }

    [Fact]
    public void BaseOfAnotherShape_Refused()
    {
        using var scope = NewDisposeScope();
        var a = new AdapterConfig(AdapterKind.Linear, PromptLength: L, Layers: K);
        using var tmp = new TempDir();
        WriteHf(tmp["hf"], Tiny);
        var md = Metadata(a, Tiny);
        md["adapter.base.head_count"] = "8";
        WriteExtract(tmp["a.safetensors"], MakeAdapter(a, 4), md);
        var e = Assert.ThrowsAny<BadInputException>(() => AdapterConverter.Convert(tmp["a.safetensors"], tmp["hf"], tmp["a.gguf"]));
        Assert.Contains("adapter.base.head_count", e.Message);
        Assert.False(File.Exists(tmp["a.gguf"]));
    }

    [Fact]
    public void PeftAdaptionPrompt_ToAdapterGguf()
    {
        using var scope = NewDisposeScope();
        using var tmp = new TempDir();
        WriteHf(tmp["hf"], Tiny);
        var c = Tiny.Config;
        Directory.CreateDirectory(tmp["peft"]);
        File.WriteAllText(Path.Combine(tmp["peft"], "adapter_config.json"),
            $$"""{"peft_type": "ADAPTION_PROMPT", "adapter_len": {{L}}, "adapter_layers": {{K}}, "target_modules": "self_attn"}""");
        var rng = new Random(8);
        var data = new Dictionary<string, (long[] Shape, float[] V)>();
        for (int l = c.NLayers - K; l < c.NLayers; l++)
        {
            data[$"base_model.model.model.layers.{l}.self_attn.adaption_prompt"] = ([1, L, c.Dim], Enumerable.Range(0, L * c.Dim).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray());
            data[$"base_model.model.model.layers.{l}.self_attn.adaption_gate"] = ([1], [0.25f * l]);
        }
        using (var w = new SafetensorsWriter(Path.Combine(tmp["peft"], "adapter_model.safetensors"), data.Select(d => new SafetensorsTensorDecl(d.Key, SafetensorsDType.F32, d.Value.Shape))))
        {
            foreach (var d in data) w.WriteTensor(d.Key, MemoryMarshal.AsBytes(d.Value.V.AsSpan()));
            w.Commit();
        }
        AdapterConverter.Convert(tmp["peft"], tmp["hf"], tmp["p.gguf"]);
        using var r = GgufReader.Open(tmp["p.gguf"]);
        Assert.Equal("per_layer_raw", r.Metadata.GetString("llama_adapter.gate_mode"));
        for (int l = c.NLayers - K; l < c.NLayers; l++)
        {
            var p = data[$"base_model.model.model.layers.{l}.self_attn.adaption_prompt"].V;
            Assert.Equal([0.25f * l], F(r, $"blk.{l}.adapter_gate"));
            Assert.Equal(p, F(r, $"blk.{l}.adapter_prompt"));
            // Keys in Meta row order: the Meta wk (HF wk un-permuted) projects the prompts.
            AssertClose(Project(p, Tiny.Data[$"layers.{l}.attention.wk.weight"], c.Dim, c.KvDim), F(r, $"blk.{l}.adapter_k"), 1e-5, $"layer {l} keys");
        }
    }
}
