using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Evaluation.Data;
using LlamaAdapter.Evaluation.Generative;
using LlamaAdapter.Training.Loading;

namespace LlamaAdapter.Tests.Evaluation;

/// <summary>The reference's top-p rule by hand, greedy generation against step-by-step argmax, and the generative evaluator's bookkeeping.</summary>
public class GenerationTests
{
    [Fact]
    public void TopP_KeepsTokensWhoseMassBeforeIsAtMostP()
    {
        // T = 1: probabilities .5, .3, .15, .05 (ids 2, 0, 1, 3). Mass before: 0, .5, .8, .95 → p = .75 keeps ids 2 and 0.
        float[] logits = [(float)Math.Log(0.3), (float)Math.Log(0.15), (float)Math.Log(0.5), (float)Math.Log(0.05)];
        var d = TopPSampler.Distribution(logits, 1.0, 0.75);
        Assert.Equal([2, 0], d.Select(x => x.Id));
        Assert.Equal(0.5 / 0.8, d[0].P, 6);
        Assert.Equal(0.3 / 0.8, d[1].P, 6);
        // The second token's mass before is .5: kept for p just above it, dropped just below.
        Assert.Equal([2, 0], TopPSampler.Distribution(logits, 1.0, 0.51).Select(x => x.Id));
        Assert.Equal([2], TopPSampler.Distribution(logits, 1.0, 0.49).Select(x => x.Id));
        // T = 0.1 sharpens: .5^10 against .3^10 leaves id 2 with ≈ 99.4 % and id 0 past p.
        Assert.Equal([2], TopPSampler.Distribution(logits, 0.1, 0.75).Select(x => x.Id));
        Assert.Equal(2, TopPSampler.Sample(logits, 0, 0.75, new Random(1)));
    }

    [Fact]
    public void GreedyGeneration_IsArgmaxChain()
    {
        using var model = LogLikelihoodScorerTests.TinyModel();
        var prompt = new ByteTokenizer().Encode("Once", addBos: true, addEos: false);
        var got = new TorchTextGenerator(model, eosId: 2).Generate(prompt, new GenerationSettings(Temperature: 0, MaxNewTokens: 6));
        var seq = prompt.Select(x => (long)x).ToList();
        var expected = new List<int>();
        for (int i = 0; i < 6; i++)
        {
            var logits = NextTokenLogits.Compute(model, seq);
            int next = Array.IndexOf(logits, logits.Max());
            if (next == 2) break;
            expected.Add(next);
            seq.Add(next);
        }
        Assert.Equal(expected, got);
        // Sampling with a seed is repeatable.
        var s = new GenerationSettings(MaxNewTokens: 5, Seed: 9);
        Assert.Equal(new TorchTextGenerator(model, 2).Generate(prompt, s), new TorchTextGenerator(model, 2).Generate(prompt, s));
    }

    private sealed class Canned(ITokenizer tok, string response) : ITextGenerator
    {
        public IReadOnlyList<int> Generate(IReadOnlyList<int> promptIds, GenerationSettings settings, CancellationToken ct = default) =>
            tok.Encode(response, addBos: false, addEos: false);
    }

    [Fact]
    public void Evaluator_SplitsResponse_ChecksAnswers_MacroAveragesSubjects()
    {
        var tok = new ByteTokenizer();
        var items = new[]
        {
            GenerativeEvaluator.Arc(new ArcItem("a", "Which gas?", ["oxygen", "carbon dioxide"], ["A", "B"], "B")),
            GenerativeEvaluator.Mmlu(new MmluItem("anatomy", "Bones?", ["206", "12", "3", "1"], 0), "m0"),
            GenerativeEvaluator.Mmlu(new MmluItem("anatomy", "Hearts?", ["1", "2", "3", "4"], 0), "m1"),
            GenerativeEvaluator.Mmlu(new MmluItem("virology", "Virus?", ["yes", "no", "maybe", "x"], 1), "m2"),
        };
        Assert.EndsWith("### Response:", items[0].Prompt);
        var results = new GenerativeEvaluator(new Canned(tok, " The answer is carbon dioxide"), tok, new GenerationSettings()).Run(items);
        Assert.All(results, r => Assert.Equal(" The answer is carbon dioxide", r.Response));
        Assert.True(results[0].Correct);
        var (micro, macro) = GenerativeEvaluator.Accuracy(results);
        Assert.Equal(4, micro.Count);
        Assert.NotNull(macro);
        // Macro = mean over subjects of per-subject accuracy (null subject for ARC counts as its own group here).
        double expectedMacro = results.GroupBy(r => r.Subject).Average(g => g.Average(r => r.Correct ? 1.0 : 0.0));
        Assert.Equal(expectedMacro, macro!.Value, 12);
    }
}
