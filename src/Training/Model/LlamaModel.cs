using LlamaAdapter.Core.Config;
using LlamaAdapter.Training.Adapters;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Model;

/// <summary>
/// LLaMA (1/2/3 shapes, GQA) over frozen weights, with an optional prompt <see cref="PromptAdapter"/> on its last K
/// layers. ids [B, T] int64 → logits [B, T, vocab] in the model dtype (the training reference's logits are fp16 too,
/// NL :391-399). Parameter names are Meta's (<c>tok_embeddings.weight</c>, <c>layers.{i}.attention.wq.weight</c>, …,
/// <c>norm.weight</c>, <c>output.weight</c>) plus <c>adapter.*</c>; every base parameter has requires_grad=false.
/// The device and dtype are fixed at construction (<see cref="LlamaModelOptions"/>): build on CUDA rather than
/// moving the module afterwards, so weights are converted once and ids follow <see cref="LlamaModelOptions.Device"/>.
/// </summary>
public sealed class LlamaModel : nn.Module<Tensor, Tensor>
{
    private readonly FrozenEmbedding tok_embeddings;
    private readonly ModuleList<TransformerBlock> layers;
    private readonly RmsNorm norm;
    private readonly FrozenLinear? output; // null when the embeddings are tied
    private PromptAdapter? adapter;
    private readonly Rotary rotary;

    public LlamaConfig Config { get; }
    public LlamaModelOptions Options { get; }
    public PromptAdapter? Adapter => adapter;

    /// <summary>Builds the model from Meta-named tensors; each is checked against the shape <paramref name="config"/> implies.</summary>
    public LlamaModel(LlamaConfig config, WeightSource weights, LlamaModelOptions options) : base(nameof(LlamaModel))
    {
        Config = config.Validate("LlamaModel");
        Options = options;
        Rotary.Check(config.RopeScaling);
        rotary = new Rotary(config.HeadDim, config.RopeTheta, config.RopeScaling, options.Layout);
        tok_embeddings = new FrozenEmbedding(weights.Take("tok_embeddings.weight", config.VocabSize, config.Dim));
        layers = new ModuleList<TransformerBlock>();
        for (int i = 0; i < config.NLayers; i++) layers.Add(new TransformerBlock(config, weights, i));
        norm = new RmsNorm(weights.Take("norm.weight", config.Dim), config.NormEps);
        if (!config.TiedEmbeddings) output = new FrozenLinear(weights.Take("output.weight", config.VocabSize, config.Dim));
        RegisterComponents();
    }

    public LlamaModel(LlamaConfig config, IReadOnlyDictionary<string, Tensor> weights, LlamaModelOptions options, string origin = "weights")
        : this(config, new WeightSource(weights, origin, options.DType, options.TargetDevice), options) { }

    public LlamaModel(LlamaConfig config, Func<string, Tensor?> weights, LlamaModelOptions options, string origin = "weights")
        : this(config, new WeightSource(weights, origin, options.DType, options.TargetDevice), options) { }

    /// <summary>Puts <paramref name="promptAdapter"/> on the last K layers; its parameters become <c>adapter.*</c>.</summary>
    public void AttachAdapter(PromptAdapter promptAdapter)
    {
        if (adapter is not null) throw new InvalidOperationException("an adapter is already attached");
        if (promptAdapter.NLayers != Config.NLayers)
            throw new ArgumentException($"adapter was made for {promptAdapter.NLayers} layers, the model has {Config.NLayers}");
        if (promptAdapter.RequiredLayout is { } l && l != Options.Layout)
            throw new ArgumentException($"adapter needs rotary layout {l} (its base weights), the model uses {Options.Layout}");
        adapter = promptAdapter;
        register_module("adapter", promptAdapter);
    }

    /// <summary>Creates, attaches and returns a freshly initialised adapter (float32 trainables, seed-code §1.7).</summary>
    public PromptAdapter AttachNewAdapter(AdapterConfig config, Generator? generator = null)
    {
        var a = PromptAdapter.Create(Config, config, Options.TargetDevice, Options.AdapterDType, generator);
        AttachAdapter(a);
        return a;
    }

    public override Tensor forward(Tensor ids)
    {
        using var scope = NewDisposeScope();
        return Logits(ForwardHidden(ids)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// ids [B, T] → final-normed hidden states [B, T, dim], for a chunked cross-entropy via <see cref="Logits"/>.
    /// Layers below the first adapter layer (or the first layer with LoRA/BitFit trainables) run under no_grad, as the
    /// reference does (NL :361-370): nothing there can train, so no autograd graph is kept for them.
    /// </summary>
    public Tensor ForwardHidden(Tensor ids)
    {
        CheckIds(ids);
        using var scope = NewDisposeScope();
        var device = Options.TargetDevice;
        var (cos, sin) = rotary.Angles(0, ids.shape[1], device);
        int promptFirst = adapter?.FirstLayer ?? Config.NLayers;
        int first = Math.Min(promptFirst, FirstLayerWithTrainables());

        Tensor h;
        // Without autograd unless the embeddings themselves train (full training, the demo's pretraining).
        using (tok_embeddings.Weight.requires_grad ? null : no_grad())
        {
            h = tok_embeddings.forward(ids.to(device));                              // [B, T, dim]
            for (int i = 0; i < first; i++) h = layers[i].forward(h, rotary, cos, sin, null);
        }
        // Prompts are produced once per forward, before the adapter layers (NL :372-384).
        var prompts = adapter?.LayerPrompts(Options.DType);
        for (int i = first; i < Config.NLayers; i++)
            h = layers[i].forward(h, rotary, cos, sin, i >= promptFirst ? prompts![i - promptFirst] : null);
        return norm.forward(h).MoveToOuterDisposeScope();
    }

    /// <summary>hidden [..., dim] → logits [..., vocab] through <c>output.weight</c> (or the embeddings when tied).</summary>
    public Tensor Logits(Tensor hidden) =>
        output is not null ? output.forward(hidden) : nn.functional.linear(hidden, tok_embeddings.Weight);

    /// <summary>The parameters an optimizer should see: only the adapter's.</summary>
    public IEnumerable<(string Name, Parameter Parameter)> TrainableParameters() =>
        named_parameters().Where(p => p.parameter.requires_grad).Select(p => (p.name, p.parameter));

    /// <summary>The lowest layer holding a requires_grad parameter (LoRA, BitFit biases); n_layers when none does.</summary>
    private int FirstLayerWithTrainables()
    {
        for (int i = 0; i < Config.NLayers; i++)
            if (layers[i].parameters().Any(p => p.requires_grad)) return i;
        return Config.NLayers;
    }

    private void CheckIds(Tensor ids)
    {
        if (ids.dim() != 2) throw new ArgumentException($"token ids: expected shape [B, T], got [{string.Join(", ", ids.shape)}]");
        if (ids.dtype != ScalarType.Int64) throw new ArgumentException($"token ids: expected int64, got {ids.dtype}");
        if (ids.numel() == 0) throw new ArgumentException("token ids: empty batch");
        using var lo = ids.min();
        using var hi = ids.max();
        long min = lo.item<long>(), max = hi.item<long>();
        if (min < 0 || max >= Config.VocabSize)
            throw new ArgumentException($"token ids: values must lie in [0, {Config.VocabSize}), got [{min}, {max}]");
    }
}
