using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Adapters;

/// <summary>
/// The paper's non-linear prompt generator (NL alpaca_finetuning_v1/llama/model.py:199-271, ParameterGenerator +
/// HyperModel): P_l = reshape(W2·act(W1·e_l + b1) + b2, [L, dim]) with e_l a learned 64-d embedding of absolute
/// layer l. One MLP shared by all adapter layers, one output vector per layer (not per prompt token), no residual.
/// Parameter names mirror NL's <c>hyperAdapter.{layer_embed, decoder.linear1, decoder.prompt}</c>:
/// <c>layer_embed</c> [n_layers, 64], <c>linear1.weight</c> [hidden, 64], <c>linear1.bias</c> [hidden],
/// <c>prompt.weight</c> [L·dim, hidden], <c>prompt.bias</c> [L·dim].
/// </summary>
public sealed class PromptHyperNetwork : nn.Module<Tensor, Tensor>
{
    private readonly Parameter layer_embed;
    private readonly Linear? linear1;
    private readonly Linear prompt;
    private readonly HyperActivation activation;
    private readonly int promptLength, dim;

    public PromptHyperNetwork(int nLayers, int dim, AdapterConfig config, ScalarType dtype, Device device, Generator? generator)
        : base(nameof(PromptHyperNetwork))
    {
        (promptLength, this.dim, activation) = (config.PromptLength, dim, config.HyperActivation);
        int e = config.HyperEmbedDim;
        // hidden_dim == 0: linear1 is IdentityMap and prompt takes the embedding directly (NL :220-224).
        int hidden = config.HyperHidden == 0 ? e : config.HyperHidden;

        // nn.Embedding default init: N(0, 1), one row per ABSOLUTE layer, all n_layers of them (NL :260).
        layer_embed = new Parameter(empty(nLayers, e, dtype: dtype, device: device));
        using (no_grad())
        {
            ParameterInit.Normal(layer_embed, generator);
            if (config.HyperHidden > 0)
            {
                // PyTorch Linear default: kaiming_uniform(a=√5) gives U(±1/√fan_in) for the weight, and the bias
                // is U(±1/√fan_in) too; fan_in = 64, so U(±0.125) (seed-code §1.3).
                linear1 = nn.Linear(e, hidden, hasBias: true, device: device, dtype: dtype);
                double b1 = 1 / Math.Sqrt(e);
                ParameterInit.Uniform(linear1.weight!, b1, generator);
                ParameterInit.Uniform(linear1.bias!, b1, generator);
            }
            // hyperfanin_init_weight(prompt, hidden, dim) (NL :199-202, :246): U(±1e-3·√(3/(hidden·dim))), bias 0,
            // so the generated prompts start near 1e-5 rather than N(0,1).
            prompt = nn.Linear(hidden, (long)dim * promptLength, hasBias: true, device: device, dtype: dtype);
            ParameterInit.Uniform(prompt.weight!, HyperFanInBound(hidden, dim), generator);
            nn.init.zeros_(prompt.bias!);
        }
        register_parameter(nameof(layer_embed), layer_embed);
        if (linear1 is not null) register_module(nameof(linear1), linear1);
        register_module(nameof(prompt), prompt);
    }

    /// <summary>b = 1e-3·√(3 / (hypernet_in · mainnet_in)) of NL hyperfanin_init_weight.</summary>
    public static double HyperFanInBound(int hidden, int dim) => 1e-3 * Math.Sqrt(3.0 / ((double)hidden * dim));

    /// <summary>Absolute layer indices [K] (int64) → prompts [K, L, dim] in the parameters' dtype.</summary>
    public override Tensor forward(Tensor layerIndices)
    {
        var e = layer_embed.index_select(0, layerIndices); // [K, 64]
        var y = linear1 is null
            ? Activate(prompt.forward(e))                  // one-layer mode: act after the output projection (NL :250-251)
            : prompt.forward(Activate(linear1.forward(e))); // [K, L·dim]
        return y.view(-1, promptLength, dim);
    }

    private Tensor Activate(Tensor x) => activation switch
    {
        HyperActivation.Relu => nn.functional.relu(x),
        HyperActivation.LeakyRelu => nn.functional.leaky_relu(x, 0.1), // nn.LeakyReLU(0.1), NL :234
        HyperActivation.Gelu => nn.functional.gelu(x),                 // exact erf GELU, NL :236
        HyperActivation.Tanh => x.tanh(),
        HyperActivation.Sigmoid => x.sigmoid(),
        _ => throw new ArgumentOutOfRangeException(nameof(activation)),
    };
}
