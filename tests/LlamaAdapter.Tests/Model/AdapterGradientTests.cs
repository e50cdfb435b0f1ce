using LlamaAdapter.Core.Config;
using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Model;

/// <summary>What trains, and that its gradients are right (float64 central differences).</summary>
public class AdapterGradientTests
{
    private static Tensor Loss(LlamaModel m, Tensor ids, Tensor weights) => (m.forward(ids) * weights).sum();

    [Theory]
    [InlineData(AdapterKind.Linear)]
    [InlineData(AdapterKind.Nonlinear)]
    [InlineData(AdapterKind.Prefix)]
    public void OnlyAdapterParameters_RequireAndReceiveGradients(AdapterKind kind)
    {
        using var scope = NewDisposeScope();
        var model = new TinyLlama(TinyLlama.DefaultConfig()).Build();
        var adapter = model.AttachNewAdapter(new AdapterConfig(kind, PromptLength: 4, Layers: 2), new Generator(3));
        AdapterReference.Perturb(adapter);
        var ids = TinyLlama.IdsTensor(TinyLlama.Ids());
        Loss(model, ids, randn([2, 9, 97], generator: new Generator(1))).backward();

        var all = model.named_parameters().ToList();
        Assert.Contains(all, p => p.name == "layers.2.attention.wq.weight");
        foreach (var (name, p) in all)
        {
            bool isAdapter = name.StartsWith("adapter.");
            Assert.Equal(isAdapter, p.requires_grad);
            if (isAdapter) Assert.True(p.grad is not null && p.grad.abs().sum().item<float>() > 0, $"{name} got no gradient");
            else Assert.Null(p.grad);
        }
        Assert.Equal(all.Where(p => p.name.StartsWith("adapter.")).Select(p => p.name), model.TrainableParameters().Select(p => p.Name));
    }

    [Fact]
    public void AtInit_PromptsGetZeroGradient_GatesDoNot()
    {
        // tanh(0)·(…) = 0 scales the prompt path: step 0 moves only the gates (seed-code §2.2).
        using var scope = NewDisposeScope();
        var model = new TinyLlama(TinyLlama.DefaultConfig()).Build();
        var adapter = model.AttachNewAdapter(new AdapterConfig(AdapterKind.Linear, PromptLength: 4, Layers: 2), new Generator(3));
        Loss(model, TinyLlama.IdsTensor(TinyLlama.Ids()), randn([2, 9, 97], generator: new Generator(1))).backward();
        Assert.Equal(0f, ModelInvarianceTests.Param(adapter, "prompts").grad!.abs().max().item<float>());
        Assert.True(ModelInvarianceTests.Param(adapter, "gates").grad!.abs().min().item<float>() > 0);
    }

    public static TheoryData<AdapterKind, GateMode, string> Entries => new()
    {
        { AdapterKind.Linear, GateMode.PerHeadTanh, "prompts" },
        { AdapterKind.Linear, GateMode.PerHeadTanh, "gates" },
        { AdapterKind.Linear, GateMode.PerLayerRaw, "gates" },
        { AdapterKind.Prefix, GateMode.PerHeadTanh, "prompts" },
        { AdapterKind.Nonlinear, GateMode.PerHeadRaw, "hyper.layer_embed" },
        { AdapterKind.Nonlinear, GateMode.PerHeadTanh, "hyper.linear1.weight" },
        { AdapterKind.Nonlinear, GateMode.PerHeadTanh, "hyper.prompt.bias" },
    };

    [Theory]
    [MemberData(nameof(Entries))]
    public void Gradients_MatchCentralDifferences_InFloat64(AdapterKind kind, GateMode gate, string parameter)
    {
        using var scope = NewDisposeScope();
        var model = new TinyLlama(TinyLlama.DefaultConfig()).Build(dtype: ScalarType.Float64);
        var adapter = model.AttachNewAdapter(new AdapterConfig(kind, PromptLength: 3, Layers: 2, Gate: gate), new Generator(8));
        AdapterReference.Perturb(adapter);
        var ids = TinyLlama.IdsTensor(TinyLlama.Ids(t: 6));
        var weights = randn([2, 6, 97], ScalarType.Float64, generator: new Generator(2));
        var p = ModelInvarianceTests.Param(adapter, parameter);
        Assert.Equal(ScalarType.Float64, p.dtype);
        Loss(model, ids, weights).backward();
        var grad = p.grad!.flatten();
        var flat = p.detach().flatten(); // a view: writes go to the parameter

        var rng = new Random(4);
        const double eps = 1e-6;
        for (int n = 0; n < 4; n++)
        {
            // The layer_embed rows below the adapter layers are unused; draw from the used rows.
            long lo = parameter == "hyper.layer_embed" ? (long)adapter.FirstLayer * 64 : 0;
            long i = lo + rng.NextInt64(flat.shape[0] - lo);
            double x0 = flat[i].item<double>(), plus, minus;
            using (no_grad())
            {
                flat[i] = tensor(x0 + eps, ScalarType.Float64);
                plus = Loss(model, ids, weights).item<double>();
                flat[i] = tensor(x0 - eps, ScalarType.Float64);
                minus = Loss(model, ids, weights).item<double>();
                flat[i] = tensor(x0, ScalarType.Float64);
            }
            double numeric = (plus - minus) / (2 * eps), analytic = grad[i].item<double>();
            Assert.True(Math.Abs(numeric - analytic) <= 1e-6 * Math.Max(1, Math.Abs(analytic)),
                $"{parameter}[{i}]: analytic {analytic}, numeric {numeric}");
        }
    }

    public static TheoryData<string, int, int, int, int> ReferenceCounts => new()
    {
        // seed-code §1.8: 7B / 13B, linear and non-linear, gates included.
        { "7B", 4096, 32, 32, 30 },
        { "13B", 5120, 40, 40, 38 },
    };

    [Theory]
    [MemberData(nameof(ReferenceCounts))]
    public void TrainableCounts_MatchTheReference(string name, int dim, int layers, int heads, int k)
    {
        using var scope = NewDisposeScope();
        var cfg = new LlamaConfig(dim, layers, heads, heads, 11008, 32000);
        long Count(AdapterKind kind) => PromptAdapter.Create(cfg, new AdapterConfig(kind, Layers: k)).parameters().Sum(p => p.numel());
        (long linear, long nonlinear) = name == "7B" ? (1_229_760L, 2_669_568L) : (1_947_120L, 3_336_240L);
        Assert.Equal(linear, Count(AdapterKind.Linear));
        Assert.Equal(nonlinear, Count(AdapterKind.Nonlinear));
    }

    [Fact]
    public void HyperNetworkInit_FollowsTheReference()
    {
        using var scope = NewDisposeScope();
        var cfg = new LlamaConfig(4096, 32, 32, 32, 11008, 32000);
        var a = PromptAdapter.Create(cfg, new AdapterConfig(AdapterKind.Nonlinear, Layers: 30), generator: new Generator(0));
        double b = PromptHyperNetwork.HyperFanInBound(64, 4096);
        Assert.Equal(3.383e-6, b, 9); // seed-code §1.3
        var w2 = ModelInvarianceTests.Param(a, "hyper.prompt.weight");
        Assert.Equal([40960, 64], w2.shape);
        Assert.True(w2.abs().max().item<float>() <= b && w2.abs().max().item<float>() > 0.9 * b);
        Assert.Equal(0f, ModelInvarianceTests.Param(a, "hyper.prompt.bias").abs().max().item<float>());
        foreach (var n in new[] { "hyper.linear1.weight", "hyper.linear1.bias" })
        {
            var t = ModelInvarianceTests.Param(a, n);
            Assert.True(t.abs().max().item<float>() <= 0.125f && t.abs().max().item<float>() > 0.1f, n);
        }
        var e = ModelInvarianceTests.Param(a, "hyper.layer_embed");
        Assert.Equal([32, 64], e.shape);
        Assert.InRange(e.std().item<float>(), 0.85f, 1.15f);
        Assert.Equal([30, 32], ModelInvarianceTests.Param(a, "gates").shape);
        Assert.Equal(0f, ModelInvarianceTests.Param(a, "gates").abs().max().item<float>());
        var lin = PromptAdapter.Create(cfg, new AdapterConfig(AdapterKind.Linear, Layers: 30), generator: new Generator(0));
        var prompts = ModelInvarianceTests.Param(lin, "prompts");
        Assert.Equal([30, 10, 4096], prompts.shape);
        Assert.InRange(prompts.std().item<float>(), 0.99f, 1.01f);
    }
}
