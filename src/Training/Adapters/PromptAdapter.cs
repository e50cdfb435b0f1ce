using LlamaAdapter.Core.Config;
using LlamaAdapter.Training.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Adapters;

/// <summary>
/// The trainable part: prompts for the last K layers and their gates. Registered on <see cref="LlamaModel"/> as
/// <c>adapter</c>, so its parameters are named
/// <list type="bullet">
/// <item><c>adapter.prompts</c> [K, L, dim] (Linear, Prefix): NL <c>adapter_query.weight</c> [K·L, dim] reshaped, row
/// block k ↔ adapter layer k;</item>
/// <item><c>adapter.hyper.layer_embed</c> [n_layers, 64], <c>adapter.hyper.linear1.{weight,bias}</c>,
/// <c>adapter.hyper.prompt.{weight,bias}</c> (Nonlinear): NL <c>hyperAdapter.layer_embed.weight</c>,
/// <c>hyperAdapter.decoder.{linear1,prompt}.*</c>;</item>
/// <item><c>adapter.gates</c> [K, n_heads] (PerHead*) or [K, 1] (PerLayerRaw); absent for Prefix. Row k is NL
/// <c>layers.{n−K+k}.attention.gate</c> [1, H, 1, 1] (or PEFT <c>adaption_gate</c> [1]).</item>
/// </list>
/// Adapter layer k is absolute layer n_layers − K + k. Parameters are float32 (float64 on a float64 model), the
/// reference's choice for trainables (models_llama_adapter.py:93-103); they are cast to the model dtype when used
/// (<c>adapter[k].half()</c>, NL :387-389; <c>gate.tanh().half()</c>, :146).
/// </summary>
public sealed class PromptAdapter : nn.Module
{
    private readonly Parameter? prompts;
    private readonly PromptHyperNetwork? hyper;
    private readonly Parameter? gates;

    public AdapterConfig Config { get; }
    public int FirstLayer { get; }
    public int NLayers { get; }

    /// <summary>Set when the prompts were trained on one rotary layout (PEFT: HF weights, HalfSplit); null = any.</summary>
    public RopeLayout? RequiredLayout { get; init; }

    private PromptAdapter(LlamaConfig model, AdapterConfig config, Parameter? prompts, PromptHyperNetwork? hyper, Parameter? gates)
        : base(nameof(PromptAdapter))
    {
        Config = config;
        NLayers = model.NLayers;
        FirstLayer = model.NLayers - config.Layers;
        (this.prompts, this.hyper, this.gates) = (prompts, hyper, gates);
        if (prompts is not null) register_parameter(nameof(prompts), prompts);
        if (hyper is not null) register_module(nameof(hyper), hyper);
        if (gates is not null) register_parameter(nameof(gates), gates);
    }

    /// <summary>A freshly initialised adapter, as the reference initialises it (seed-code §1.3, §1.5).</summary>
    public static PromptAdapter Create(LlamaConfig model, AdapterConfig config, Device? device = null,
        ScalarType dtype = ScalarType.Float32, Generator? generator = null)
    {
        config.Validate(model.NLayers);
        device ??= CPU;
        Parameter? prompts = null;
        PromptHyperNetwork? hyper = null;
        using (no_grad())
        {
            if (config.Kind == AdapterKind.Nonlinear)
                hyper = new PromptHyperNetwork(model.NLayers, model.Dim, config, dtype, device, generator);
            else
            {
                // nn.Embedding(L·K, dim) default init N(0,1) (NL :333); the prefix baseline uses the same prompts
                // (seed-code §1.6: random_init only switches the attention formula).
                prompts = new Parameter(empty(config.Layers, config.PromptLength, model.Dim, dtype: dtype, device: device));
                ParameterInit.Normal(prompts, generator);
            }
        }
        // typ_gate "random" is zeros(1, H, 1, 1) (NL :84-93): tanh(0) = 0, the model starts exactly as the base.
        var gates = config.Kind == AdapterKind.Prefix ? null
            : new Parameter(zeros(config.Layers, GateWidth(model, config), dtype: dtype, device: device));
        return new PromptAdapter(model, config, prompts, hyper, gates);
    }

    /// <summary>An adapter from trained tensors: prompts [K, L, dim], gates [K, G] (already checked by the importer).</summary>
    public static PromptAdapter FromTensors(LlamaConfig model, AdapterConfig config, Tensor prompts, Tensor? gates,
        RopeLayout? requiredLayout = null)
    {
        config.Validate(model.NLayers);
        if (config.Kind == AdapterKind.Nonlinear) throw new ArgumentException("FromTensors takes learned prompts, not a hypernetwork");
        // A missing gate would silently turn gated attention into the joint softmax.
        if ((gates is null) != (config.Kind == AdapterKind.Prefix))
            throw new ArgumentException($"{config.Kind} adapter: gates must be {(config.Kind == AdapterKind.Prefix ? "absent" : "given")}");
        return new PromptAdapter(model, config, new Parameter(prompts), null, gates is null ? null : new Parameter(gates))
        {
            RequiredLayout = requiredLayout,
        };
    }

    public static int GateWidth(LlamaConfig model, AdapterConfig config) =>
        config.Gate == GateMode.PerLayerRaw ? 1 : model.NHeads;

    /// <summary>The K layer prompts and gates, cast to the model <paramref name="dtype"/>; index k = adapter layer k.</summary>
    public LayerPrompt[] LayerPrompts(ScalarType dtype)
    {
        Tensor all; // [K, L, dim]
        if (hyper is not null)
        {
            var layers = arange(FirstLayer, NLayers, dtype: ScalarType.Int64, device: hyper.parameters().First().device);
            all = hyper.forward(layers);
        }
        else all = prompts!;
        var result = new LayerPrompt[Config.Layers];
        for (int k = 0; k < Config.Layers; k++)
        {
            Tensor? gate = gates is null ? null : Config.Gate switch
            {
                GateMode.PerHeadTanh => gates[k].tanh().to(dtype),
                _ => gates[k].to(dtype),
            };
            result[k] = new LayerPrompt(all[k].to(dtype), gate);
        }
        return result;
    }
}
