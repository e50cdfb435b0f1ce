using LlamaAdapter.Training.Pipeline;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Training;

/// <summary>Our AdamW update equals TorchSharp's <c>AdamW.step</c> bit for bit: parameters and both moments, over steps with changing lr.</summary>
public class AdamWStepTests
{
    private static (List<Parameter> Decay, List<Parameter> NoDecay) Params(int seed)
    {
        var g = new Generator((ulong)seed);
        Parameter P(params long[] shape) => new(randn(shape, generator: g), requires_grad: true);
        return ([P(4, 8), P(3, 2, 5)], [P(7), P(1, 4, 1, 1)]);
    }

    private static AdamW Optimizer((List<Parameter> Decay, List<Parameter> NoDecay) p) => optim.AdamW(
        [new AdamW.ParamGroup(p.Decay, 1e-2, 0.9, 0.95, 1e-8, 0.02), new AdamW.ParamGroup(p.NoDecay, 1e-2, 0.9, 0.95, 1e-8, 0.0)],
        1e-2, 0.9, 0.95, 1e-8);

    private static uint[] Bits(Tensor t) => t.detach().contiguous().data<float>().ToArray().Select(BitConverter.SingleToUInt32Bits).ToArray();

    [Fact]
    public void EqualsTorchSharpsStep_BitForBit()
    {
        var theirs = Params(5);
        var ours = Params(5);
        using var a = Optimizer(theirs);
        using var b = Optimizer(ours);
        var step = new AdamWStep(b);
        var grads = new Generator(9);
        var all = (Theirs: theirs.Decay.Concat(theirs.NoDecay).ToList(), Ours: ours.Decay.Concat(ours.NoDecay).ToList());
        for (int s = 0; s < 6; s++)
        {
            double lr = 1e-2 * (s + 1) / 3;
            foreach (var g in a.ParamGroups) g.LearningRate = lr;
            foreach (var g in b.ParamGroups) g.LearningRate = lr;
            for (int i = 0; i < all.Theirs.Count; i++)
            {
                if (s == 2 && i == 1) { all.Theirs[i].grad = null; all.Ours[i].grad = null; continue; }   // no gradient: skipped, as torch does
                var grad = randn(all.Theirs[i].shape, generator: grads);
                all.Theirs[i].grad = grad.clone();
                all.Ours[i].grad = grad.clone();
            }
            a.step();
            step.Step();
        }
        var sa = a.state_dict().State.Cast<AdamW.State>().ToList();
        var sb = b.state_dict().State.Cast<AdamW.State>().ToList();
        for (int i = 0; i < all.Theirs.Count; i++)
        {
            Assert.Equal(Bits(all.Theirs[i]), Bits(all.Ours[i]));
            Assert.Equal(Bits(sa[i].exp_avg), Bits(sb[i].exp_avg));
            Assert.Equal(Bits(sa[i].exp_avg_sq), Bits(sb[i].exp_avg_sq));
            Assert.Equal(sa[i].step, sb[i].step);
        }
        Assert.NotEqual(Bits(all.Ours[0]), Bits(Params(5).Decay[0]));   // it did move
    }
}
