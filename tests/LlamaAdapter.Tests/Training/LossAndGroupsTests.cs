using LlamaAdapter.Training.Pipeline;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Training;

public sealed class LossAndGroupsTests
{
    [Fact]
    public void Loss_IsShiftedCrossEntropy_MeanOverLabelsThatAreNotZero()
    {
        // B=2, T=3, V=4; labels 0 are ignored after the shift.
        float[] l = Enumerable.Range(0, 24).Select(i => (float)Math.Sin(i * 0.7) * 2).ToArray();
        long[] y = [0, 3, 0, /**/ 0, 1, 2];
        using var logits = tensor(l, [2, 3, 4]);
        using var labels = tensor(y, [2, 3]);
        double got = CausalLmLoss.Compute(logits, labels).item<float>();

        // by hand: position t predicts label t+1
        double sum = 0; int n = 0;
        for (int b = 0; b < 2; b++)
            for (int t = 0; t < 2; t++)
            {
                long target = y[b * 3 + t + 1];
                if (target == 0) continue;
                var row = Enumerable.Range(0, 4).Select(v => (double)l[(b * 3 + t) * 4 + v]).ToArray();
                double lse = Math.Log(row.Sum(Math.Exp));
                sum += lse - row[target];
                n++;
            }
        Assert.Equal(3, n);
        Assert.Equal(sum / n, got, 5);
        Assert.Equal(3, CausalLmLoss.CountedTokens(labels));
    }

    [Fact]
    public void Loss_RejectsMismatchedShapes()
    {
        using var logits = zeros(2, 3, 4);
        using var labels = zeros(new long[] { 2, 4 }, ScalarType.Int64);
        Assert.Throws<ArgumentException>(() => CausalLmLoss.Compute(logits, labels));
    }

    [Fact]
    public void WeightDecay_OnEveryTrainableTensorOfTwoOrMoreDims_GatesIncluded()
    {
        using var m = new TinyGatedLm(0);
        var (decay, noDecay) = AdamWParamGroups.Split(m.named_parameters());
        Assert.Equal(["adapter_idle", "adapter_proj.weight", "adapter_query.weight", "layers.1.attention.gate"], decay.Select(d => d.Name).Order(StringComparer.Ordinal));
        Assert.Equal(["adapter_proj.bias"], noDecay.Select(d => d.Name));
    }
}
