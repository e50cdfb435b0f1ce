using LlamaAdapter.Core;
using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Model;

public class PeftAdaptionPromptTests
{
    private const string Config = """
        {"peft_type": "ADAPTION_PROMPT", "task_type": "CAUSAL_LM", "adapter_len": 4, "adapter_layers": 2,
         "target_modules": "self_attn", "inference_mode": true}
        """;

    private static Dictionary<string, Tensor> Tensors(double gate0 = 0.8, double gate1 = -0.6)
    {
        var g = new Generator(21);
        return new()
        {
            [PeftAdaptionPrompt.PromptName(1)] = randn([1, 4, 64], generator: g),
            [PeftAdaptionPrompt.GateName(1)] = tensor(new[] { (float)gate0 }),
            [PeftAdaptionPrompt.PromptName(2)] = randn([1, 4, 64], generator: g),
            [PeftAdaptionPrompt.GateName(2)] = tensor(new[] { (float)gate1 }),
        };
    }

    [Fact]
    public void ImportedAdapter_IsPeftMath_OnHalfSplit_WithRawPerLayerGates()
    {
        using var scope = NewDisposeScope();
        var w = new TinyLlama(TinyLlama.DefaultConfig());
        var tensors = Tensors();
        var adapter = PeftAdaptionPrompt.Import(w.Config, Config, tensors, "peft-dir");
        Assert.Equal(new AdapterConfig(AdapterKind.Linear, 4, 2, GateMode.PerLayerRaw), adapter.Config);
        var model = w.Build(RopeLayout.HalfSplit);
        model.AttachAdapter(adapter);
        var ids = TinyLlama.Ids();
        var logits = model.forward(TinyLlama.IdsTensor(ids));

        // Written from PEFT's AdaptedAttention directly: prompts of layers 1 and 2, gates raw (no tanh), one per layer.
        var prompts = new[] { 1, 2 }.Select(l => AdapterReference.D(tensors[PeftAdaptionPrompt.PromptName(l)])).ToArray();
        var expected = ReferenceLlama.Forward(w, ids, RopeLayout.HalfSplit, new ReferencePrompts(prompts, [[0.8], [-0.6]], 4));
        Assert.InRange(AdapterReference.MaxAbsDiff(expected, logits), 0, 1e-5);
    }

    [Fact]
    public void ImportedAdapter_RefusesAnInterleavedModel()
    {
        using var scope = NewDisposeScope();
        var w = new TinyLlama(TinyLlama.DefaultConfig());
        var adapter = PeftAdaptionPrompt.Import(w.Config, Config, Tensors(), "peft-dir");
        Assert.Contains("HalfSplit", Assert.Throws<ArgumentException>(() => w.Build(RopeLayout.Interleaved).AttachAdapter(adapter)).Message);
    }

    [Theory]
    [InlineData("{\"adapter_len\": 4}", "'adapter_layers'")]
    [InlineData("{\"adapter_len\": 4, \"adapter_layers\": 4}", "'adapter_layers' is 4, expected 1..3")]
    [InlineData("{\"adapter_len\": 0, \"adapter_layers\": 2}", "'adapter_len' is 0")]
    [InlineData("{\"adapter_len\": 4, \"adapter_layers\": 2, \"target_modules\": \"mlp\"}", "target_modules")]
    [InlineData("{\"peft_type\": \"LORA\", \"adapter_len\": 4, \"adapter_layers\": 2}", "ADAPTION_PROMPT")]
    [InlineData("{not json", "not valid JSON")]
    public void BadConfig_IsNamed(string json, string expected)
    {
        var e = Assert.Throws<BadInputException>(() => PeftAdaptionPrompt.ParseConfig(json, "dir/adapter_config.json", 3));
        Assert.Contains("dir/adapter_config.json", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void BadTensors_AreNamed()
    {
        using var scope = NewDisposeScope();
        var c = TinyLlama.DefaultConfig();
        var missing = Tensors();
        missing.Remove(PeftAdaptionPrompt.GateName(2));
        Assert.Contains($"'{PeftAdaptionPrompt.GateName(2)}' is missing", Assert.Throws<BadInputException>(() => PeftAdaptionPrompt.Import(c, Config, missing, "d")).Message);

        var wrong = Tensors();
        wrong[PeftAdaptionPrompt.PromptName(1)] = zeros(1, 5, 64);
        var e = Assert.Throws<BadInputException>(() => PeftAdaptionPrompt.Import(c, Config, wrong, "d"));
        Assert.Contains("[1, 5, 64], expected [1, 4, 64]", e.Message);

        var extra = Tensors();
        extra[PeftAdaptionPrompt.PromptName(0)] = zeros(1, 4, 64);
        Assert.Contains("layer 0", Assert.Throws<BadInputException>(() => PeftAdaptionPrompt.Import(c, Config, extra, "d")).Message);
    }
}
