using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Model;

/// <summary>
/// The model against HF transformers, PEFT and the reference adapter in torch (tools/golden_hf.py). Float32 on both
/// sides with different kernels: max |Δlogit| ≤ 1e-4.
/// </summary>
public class HfGoldenTests
{
    private const double Tol = 1e-4;
    private static readonly Core.Config.LlamaConfig Config = TinyLlama.DefaultConfig();

    private static Tensor Ids => GoldenFiles.Read("inputs.safetensors")["input_ids"];

    private static double Diff(Tensor a, string file) =>
        (a - GoldenFiles.Read(file)["logits"]).abs().max().item<float>();

    /// <summary>HF names → Meta names, weights untouched (they stay in the HalfSplit layout).</summary>
    private static Dictionary<string, Tensor> HfAsMetaNames()
    {
        var hf = GoldenFiles.Read("base_hf.safetensors");
        var m = new Dictionary<string, Tensor>
        {
            ["tok_embeddings.weight"] = hf["model.embed_tokens.weight"],
            ["norm.weight"] = hf["model.norm.weight"],
            ["output.weight"] = hf["lm_head.weight"],
        };
        for (int i = 0; i < Config.NLayers; i++)
        {
            string p = $"model.layers.{i}.", q = $"layers.{i}.";
            (string Hf, string Meta)[] map =
            [
                ("self_attn.q_proj", "attention.wq"), ("self_attn.k_proj", "attention.wk"), ("self_attn.v_proj", "attention.wv"),
                ("self_attn.o_proj", "attention.wo"), ("mlp.gate_proj", "feed_forward.w1"), ("mlp.down_proj", "feed_forward.w2"),
                ("mlp.up_proj", "feed_forward.w3"), ("input_layernorm", "attention_norm"), ("post_attention_layernorm", "ffn_norm"),
            ];
            foreach (var (h, me) in map) m[q + me + ".weight"] = hf[p + h + ".weight"];
        }
        return m;
    }

    [GoldenFact]
    public void BaseModel_MatchesTransformers_InBothLayouts()
    {
        using var scope = NewDisposeScope();
        var meta = new LlamaModel(Config, GoldenFiles.Read("base_meta.safetensors"), new LlamaModelOptions(RopeLayout.Interleaved), "base_meta");
        Assert.InRange(Diff(meta.forward(Ids), "logits_base.safetensors"), 0, Tol);
        var hf = new LlamaModel(Config, HfAsMetaNames(), new LlamaModelOptions(RopeLayout.HalfSplit), "base_hf");
        Assert.InRange(Diff(hf.forward(Ids), "logits_base.safetensors"), 0, Tol);
    }

    [GoldenFact]
    public void PeftAdaptionPrompt_MatchesPeft()
    {
        using var scope = NewDisposeScope();
        var model = new LlamaModel(Config, HfAsMetaNames(), new LlamaModelOptions(RopeLayout.HalfSplit), "base_hf");
        model.AttachAdapter(PeftAdaptionPrompt.Import(Config, File.ReadAllText(GoldenFiles.PathOf("peft/adapter_config.json")),
            GoldenFiles.Read("peft/adapter_model.safetensors"), "peft"));
        Assert.InRange(Diff(model.forward(Ids), "logits_peft.safetensors"), 0, Tol);
    }

    [GoldenTheory]
    [InlineData("linear_tanh", AdapterKind.Linear, GateMode.PerHeadTanh)]
    [InlineData("linear_raw", AdapterKind.Linear, GateMode.PerHeadRaw)]
    [InlineData("nonlinear_tanh", AdapterKind.Nonlinear, GateMode.PerHeadTanh)]
    [InlineData("prefix", AdapterKind.Prefix, GateMode.PerHeadTanh)]
    public void ReferenceAdapter_MatchesTheTorchReimplementation(string variant, AdapterKind kind, GateMode gate)
    {
        using var scope = NewDisposeScope();
        var model = new LlamaModel(Config, GoldenFiles.Read("base_meta.safetensors"), new LlamaModelOptions(), "base_meta");
        var adapter = model.AttachNewAdapter(new AdapterConfig(kind, PromptLength: 4, Layers: 2, Gate: gate));
        var file = GoldenFiles.Read($"ref_{variant}.safetensors");
        // Our parameter names are the golden's: every adapter.* tensor lands on exactly one parameter.
        var ours = model.named_parameters().Where(p => p.name.StartsWith("adapter.")).ToDictionary(p => p.name, p => p.parameter);
        Assert.Equal(ours.Keys.Order(), file.Keys.Where(k => k != "logits").Order());
        using (no_grad())
            foreach (var (name, p) in ours) p.copy_(file[name]);
        Assert.InRange((model.forward(Ids) - file["logits"]).abs().max().item<float>(), 0, Tol);
    }
}

public sealed class GoldenTheoryAttribute : TheoryAttribute
{
    public GoldenTheoryAttribute()
    {
        if (!File.Exists(GoldenFiles.PathOf("config.json")))
            Skip = $"goldens absent: run tools/golden_hf.py --out {GoldenFiles.Folder} in a Python ML session";
    }
}
