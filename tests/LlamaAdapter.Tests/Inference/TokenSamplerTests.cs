using LlamaAdapter.Inference.Sampling;

namespace LlamaAdapter.Tests.Inference;

public class TokenSamplerTests
{
    private static readonly float[] Logits = [1.0f, 3.0f, 2.5f, -1.0f, 0.0f, 2.0f, -3.0f, 0.5f];

    private static double[] Softmax(float[] l, double t = 1)
    {
        double max = l.Max() / t;
        var e = l.Select(x => Math.Exp(x / t - max)).ToArray();
        double s = e.Sum();
        return e.Select(x => x / s).ToArray();
    }

    private static int[] Counts(SamplingOptions o, int draws, float[]? logits = null, int[]? history = null)
    {
        logits ??= Logits;
        var s = new TokenSampler(o);
        var c = new int[logits.Length];
        for (int i = 0; i < draws; i++) c[s.Sample(logits, history ?? [])]++;
        return c;
    }

    [Fact]
    public void Greedy_IsArgMax_AndTopK1IsGreedyAtAnyTemperature()
    {
        Assert.Equal(1, new TokenSampler(SamplingOptions.Greedy).Sample(Logits, []));
        var c = Counts(new SamplingOptions(Temperature: 5, TopK: 1), 500);
        Assert.Equal(500, c[1]);
    }

    [Fact]
    public void SameSeed_SameTokens_OtherSeed_OtherTokens()
    {
        var o = new SamplingOptions(Temperature: 1.5f, TopK: 0, TopP: 1, MinP: 0, Seed: 42);
        int[] Draw(SamplingOptions x) { var s = new TokenSampler(x); return Enumerable.Range(0, 200).Select(_ => s.Sample(Logits, [])).ToArray(); }
        Assert.Equal(Draw(o), Draw(o));
        Assert.NotEqual(Draw(o), Draw(o with { Seed = 43 }));
    }

    [Theory]
    [InlineData(1.0f)]
    [InlineData(0.5f)]
    [InlineData(2.0f)]
    public void Untrimmed_Frequencies_FollowTheTemperedSoftmax(float temperature)
    {
        const int n = 40000;
        var c = Counts(new SamplingOptions(Temperature: temperature, TopK: 0, TopP: 1, MinP: 0, Seed: 7), n);
        var p = Softmax(Logits, temperature);
        // 4.5 binomial standard deviations: a wrong distribution (e.g. temperature ignored) is far outside.
        for (int i = 0; i < p.Length; i++)
            Assert.InRange(c[i] / (double)n, p[i] - 4.5 * Math.Sqrt(p[i] * (1 - p[i]) / n) - 1e-9, p[i] + 4.5 * Math.Sqrt(p[i] * (1 - p[i]) / n) + 1e-9);
    }

    [Fact]
    public void TopP_KeepsTheSmallestHeadReachingP_ThenRenormalises()
    {
        // Untempered probabilities by rank: ids 1, 2, 5, 0, ... ; cumulative of the first three ≥ 0.8.
        var p = Softmax(Logits);
        Assert.True(p[1] + p[2] < 0.8 && p[1] + p[2] + p[5] >= 0.8);
        var c = Counts(new SamplingOptions(Temperature: 1, TopK: 0, TopP: 0.8f, MinP: 0, Seed: 3), 20000);
        Assert.Equal(20000, c[1] + c[2] + c[5]);
        double z = p[1] + p[2] + p[5];
        Assert.InRange(c[5] / 20000.0, p[5] / z - 0.015, p[5] / z + 0.015);
    }

    [Fact]
    public void MinP_DropsTokensBelowAFractionOfTheBest()
    {
        var p = Softmax(Logits);
        var c = Counts(new SamplingOptions(Temperature: 1, TopK: 0, TopP: 1, MinP: 0.3f, Seed: 3), 20000);
        for (int i = 0; i < p.Length; i++)
            if (p[i] < 0.3 * p[1]) Assert.Equal(0, c[i]);
            else Assert.True(c[i] > 0);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(40)]
    public void TopKSelection_DrawsAsTheFullSortCutAtK(int k)
    {
        // Coarse logits make many ties, at the k-th place too: the full sort keeps lower ids first.
        var rng = new Random(k);
        float[] logits = Enumerable.Range(0, 500).Select(_ => (float)Math.Round(rng.NextDouble() * 8) / 2).ToArray();
        int[] order = Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).ThenBy(i => i).ToArray();
        var masked = Enumerable.Repeat(float.NegativeInfinity, logits.Length).ToArray();
        foreach (int i in order.Take(k)) masked[i] = logits[i];

        var selected = new TokenSampler(new SamplingOptions(Temperature: 1.5f, TopK: k, Seed: 11));
        var reference = new TokenSampler(new SamplingOptions(Temperature: 1.5f, TopK: 0, Seed: 11));
        for (int d = 0; d < 2000; d++)
            Assert.Equal(reference.Sample(masked, []), selected.Sample(logits, []));
    }

    [Fact]
    public void TopK_KeepsTheKHighest()
    {
        var c = Counts(new SamplingOptions(Temperature: 3, TopK: 3, TopP: 1, MinP: 0, Seed: 3), 5000);
        Assert.Equal(5000, c[1] + c[2] + c[5]);
        Assert.All(new[] { 1, 2, 5 }, i => Assert.True(c[i] > 0));
    }

    [Fact]
    public void RepeatPenalty_DividesPositiveAndMultipliesNegativeLogitsOfRecentTokens()
    {
        var greedy = SamplingOptions.Greedy with { RepeatPenalty = 1.25f, RepeatLastN = 2 };
        // 3.0/1.25 = 2.4 < 2.5: the repeated best token loses to id 2.
        Assert.Equal(2, new TokenSampler(greedy).Sample(Logits, [1]));
        // Outside the last 2 tokens the penalty does not apply.
        Assert.Equal(1, new TokenSampler(greedy).Sample(Logits, [1, 4, 7]));
        // Negative logits move away from zero: -1 → -1.25 still above -3, and below 0.5's id.
        float[] neg = [-1.0f, -1.1f];
        Assert.Equal(1, new TokenSampler(greedy).Sample(neg, [0]));
    }

    [Theory]
    [InlineData(float.NaN, 40, 0.9f, 0.05f, 1.0f)]
    [InlineData(1f, 40, 1.5f, 0.05f, 1.0f)]
    [InlineData(1f, 40, 0.9f, -0.1f, 1.0f)]
    [InlineData(1f, 40, 0.9f, 0.05f, 0f)]
    public void ImpossibleOptions_AreRefused(float t, int k, float p, float minP, float penalty) =>
        Assert.Throws<ArgumentException>(() => new TokenSampler(new SamplingOptions(t, k, p, minP, penalty)));
}
