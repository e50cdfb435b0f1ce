using LlamaAdapter.Evaluation.Metrics;

namespace LlamaAdapter.Tests.Evaluation;

/// <summary>Per-document metrics and the harness's aggregation against numbers worked out by hand.</summary>
public class EvalMetricsTests
{
    [Fact]
    public void AccNorm_DividesByCharacters_AccBytes_ByUtf8Bytes()
    {
        // "é" is 1 character and 2 bytes, "aa" 2 of each: −3/1 < −4/2 but −3/2 > −4/2.
        double[] lls = [-3, -4];
        string[] choices = ["é", "aa"];
        Assert.Equal(0, ChoiceMetrics.Predict(lls));
        Assert.Equal(1, ChoiceMetrics.PredictNorm(lls, choices));
        Assert.Equal(0, ChoiceMetrics.PredictBytes(lls, choices));
        // A character outside the BMP is one code point (Python len), two UTF-16 units, four UTF-8 bytes.
        Assert.Equal(1, ChoiceMetrics.CodePoints("😀"));
        Assert.Equal(1, ChoiceMetrics.PredictNorm([-2.1, -4.0], ["😀", "ab"])); // −2.1/1 < −4/2
    }

    [Fact]
    public void AccNorm_PrefersLongerChoiceWithSameAverage_AndTiesGoFirst()
    {
        Assert.Equal(0, ChoiceMetrics.Predict([-10, -12]));
        Assert.Equal(1, ChoiceMetrics.PredictNorm([-10, -12], ["ab", "abcdef"])); // −5 vs −2
        Assert.Equal(0, ChoiceMetrics.Predict([-1, -1, -2]));                     // numpy argmax: first maximum
    }

    [Fact]
    public void Mc2_IsNormalisedMassOfTrueAnswers()
    {
        // p = 0.2, 0.1 (true), 0.3 (false): 0.3 / 0.6.
        double[] lls = [Math.Log(0.2), Math.Log(0.1), Math.Log(0.3)];
        Assert.Equal(0.5, ChoiceMetrics.Mc2(lls, [1, 1, 0]), 12);
        // Shifting every ll by a constant leaves it unchanged, and stays defined where exp underflows.
        Assert.Equal(0.5, ChoiceMetrics.Mc2(lls.Select(l => l - 2000).ToArray(), [1, 1, 0]), 12);
        Assert.Equal(1 / 3.0, ChoiceMetrics.Mc2([-1, -1, -1], [1, 0, 0]), 12);
        Assert.Throws<ArgumentException>(() => ChoiceMetrics.Mc2([-1, -1], [1, 1]));
    }

    [Fact]
    public void MeanStderr_IsSampleStdOverRootN()
    {
        // [1,0,1,1]: mean .75, Σ(x−m)² = 3·.0625 + .5625 = .75, /(n−1) = .25, std .5, /√4 = .25.
        var m = Aggregate.Mean([1, 0, 1, 1]);
        Assert.Equal(0.75, m.Value, 12);
        Assert.Equal(0.25, m.Stderr!.Value, 12);
        Assert.Equal(4, m.Count);
        Assert.Null(Aggregate.Mean([1]).Stderr);
    }

    [Fact]
    public void Pooled_WeightsBySize_AndMatchesStderrOfConcatenationForEqualMeans()
    {
        var a = Aggregate.Mean([1, 0, 1, 1]);          // .75, se .25
        var b = Aggregate.Mean([1, 0]);                // .5, se .5
        var g = Aggregate.Pooled([a, b]);
        Assert.Equal((0.75 * 4 + 0.5 * 2) / 6, g.Value, 12);
        // (3·4·.0625 + 1·2·.25) / (6 − 2) = (.75 + .5) / 4 = .3125; √(.3125 / 6).
        Assert.Equal(Math.Sqrt(0.3125 / 6), g.Stderr!.Value, 12);
        Assert.Equal(6, g.Count);
        // With equal group means the pooled variance is the variance of the concatenation up to the (n−1)/(n−k) degrees of freedom.
        var c = Aggregate.Mean([1, 0, 1, 0]);
        var d = Aggregate.Mean([0, 1, 0, 1]);
        double all = Aggregate.Mean([1, 0, 1, 0, 0, 1, 0, 1]).Stderr!.Value;
        Assert.Equal(all * Math.Sqrt(7.0 / 6.0), Aggregate.Pooled([c, d]).Stderr!.Value, 12);
    }
}
