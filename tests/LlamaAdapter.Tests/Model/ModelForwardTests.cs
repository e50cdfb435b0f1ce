using LlamaAdapter.Core.Config;
using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Model;

/// <summary>The TorchSharp model against the double-loop reference, float32, max |Δlogit| ≤ 1e-5 (≈2e-6 observed, |logit| ≤ 4).</summary>
public class ModelForwardTests
{
    private const double Tol = 1e-5;

    [Theory]
    [InlineData(RopeLayout.Interleaved)]
    [InlineData(RopeLayout.HalfSplit)]
    public void BaseModel_MatchesReference(RopeLayout layout)
    {
        using var scope = NewDisposeScope();
        var w = new TinyLlama(TinyLlama.DefaultConfig());
        var ids = TinyLlama.Ids();
        var logits = w.Build(layout).forward(TinyLlama.IdsTensor(ids));
        Assert.Equal([2, 9, 97], logits.shape);
        Assert.InRange(AdapterReference.MaxAbsDiff(ReferenceLlama.Forward(w, ids, layout), logits), 0, Tol);
    }

    public static TheoryData<RopeScalingType> Scalings => new() { RopeScalingType.Linear, RopeScalingType.Llama3 };

    [Theory]
    [MemberData(nameof(Scalings))]
    public void RopeScaling_MatchesReference(RopeScalingType type)
    {
        using var scope = NewDisposeScope();
        // Original context 16 with these factors puts the 8 frequencies of d=16 in all three llama3 bands.
        var scaling = new RopeScaling(type, Factor: 8, LowFreqFactor: 0.5, HighFreqFactor: 2, OriginalContextLength: 16);
        var w = new TinyLlama(TinyLlama.DefaultConfig(scaling: scaling));
        var ids = TinyLlama.Ids(t: 12);
        var logits = w.Build().forward(TinyLlama.IdsTensor(ids));
        Assert.InRange(AdapterReference.MaxAbsDiff(ReferenceLlama.Forward(w, ids, RopeLayout.Interleaved), logits), 0, Tol);
        // The scaling is actually exercised: unscaled logits differ.
        var plain = ReferenceLlama.Forward(w.With(TinyLlama.DefaultConfig(), (_, v) => v), ids, RopeLayout.Interleaved);
        Assert.True(AdapterReference.MaxAbsDiff(plain, logits) > 1e-3);
    }

    [Fact]
    public void TiedEmbeddings_MatchReference()
    {
        using var scope = NewDisposeScope();
        var w = new TinyLlama(TinyLlama.DefaultConfig(tied: true));
        var ids = TinyLlama.Ids();
        var model = w.Build();
        Assert.DoesNotContain(model.named_parameters(), p => p.name == "output.weight");
        Assert.InRange(AdapterReference.MaxAbsDiff(ReferenceLlama.Forward(w, ids, RopeLayout.Interleaved), model.forward(TinyLlama.IdsTensor(ids))), 0, Tol);
    }

    public static TheoryData<AdapterKind, GateMode, RopeLayout> Adapters => new()
    {
        { AdapterKind.Linear, GateMode.PerHeadTanh, RopeLayout.Interleaved },
        { AdapterKind.Linear, GateMode.PerHeadRaw, RopeLayout.Interleaved },
        { AdapterKind.Linear, GateMode.PerLayerRaw, RopeLayout.HalfSplit },
        { AdapterKind.Nonlinear, GateMode.PerHeadTanh, RopeLayout.Interleaved },
        { AdapterKind.Nonlinear, GateMode.PerHeadRaw, RopeLayout.HalfSplit },
        { AdapterKind.Prefix, GateMode.PerHeadTanh, RopeLayout.Interleaved },
    };

    [Theory]
    [MemberData(nameof(Adapters))]
    public void AdapterModel_MatchesReference(AdapterKind kind, GateMode gate, RopeLayout layout)
    {
        using var scope = NewDisposeScope();
        var w = new TinyLlama(TinyLlama.DefaultConfig());
        var ids = TinyLlama.Ids();
        var model = w.Build(layout);
        var adapter = model.AttachNewAdapter(new AdapterConfig(kind, PromptLength: 5, Layers: 2, Gate: gate), new Generator(11));
        AdapterReference.Perturb(adapter);
        var logits = model.forward(TinyLlama.IdsTensor(ids));
        var expected = ReferenceLlama.Forward(w, ids, layout, AdapterReference.Of(adapter, w.Config.Dim));
        Assert.InRange(AdapterReference.MaxAbsDiff(expected, logits), 0, Tol);
        // …and the adapter is not a no-op here.
        Assert.True(AdapterReference.MaxAbsDiff(ReferenceLlama.Forward(w, ids, layout), logits) > 1e-3);
    }

    [Theory]
    [InlineData(0, HyperActivation.Tanh)]
    [InlineData(32, HyperActivation.LeakyRelu)]
    [InlineData(16, HyperActivation.Sigmoid)]
    public void HyperNetworkVariants_MatchReference(int hidden, HyperActivation act)
    {
        using var scope = NewDisposeScope();
        var w = new TinyLlama(TinyLlama.DefaultConfig());
        var ids = TinyLlama.Ids();
        var model = w.Build();
        var adapter = model.AttachNewAdapter(new AdapterConfig(AdapterKind.Nonlinear, PromptLength: 4, Layers: 3,
            HyperHidden: hidden, HyperActivation: act), new Generator(5));
        AdapterReference.Perturb(adapter);
        var expected = ReferenceLlama.Forward(w, ids, RopeLayout.Interleaved, AdapterReference.Of(adapter, w.Config.Dim));
        Assert.InRange(AdapterReference.MaxAbsDiff(expected, model.forward(TinyLlama.IdsTensor(ids))), 0, Tol);
    }

    [Fact]
    public void ForwardHidden_ThenLogits_IsForward()
    {
        using var scope = NewDisposeScope();
        var model = new TinyLlama(TinyLlama.DefaultConfig()).Build();
        model.AttachNewAdapter(new AdapterConfig(PromptLength: 3, Layers: 2), new Generator(2));
        var ids = TinyLlama.IdsTensor(TinyLlama.Ids());
        var hidden = model.ForwardHidden(ids);
        Assert.Equal([2, 9, 64], hidden.shape);
        Assert.True(model.Logits(hidden).eq(model.forward(ids)).all().item<bool>());
    }

    [Fact]
    public void BadIds_AreRejectedBeforeNativeCode()
    {
        using var scope = NewDisposeScope();
        var model = new TinyLlama(TinyLlama.DefaultConfig()).Build();
        Assert.Contains("[0, 97)", Assert.Throws<ArgumentException>(() => model.forward(tensor(new long[] { 1, 97 }, [1, 2]))).Message);
        Assert.Contains("[B, T]", Assert.Throws<ArgumentException>(() => model.forward(tensor(new long[] { 1, 2 }))).Message);
        Assert.Contains("int64", Assert.Throws<ArgumentException>(() => model.forward(tensor(new int[] { 1, 2 }, [1, 2]))).Message);
    }
}
