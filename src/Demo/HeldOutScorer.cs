using LlamaAdapter.Core.Data;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Evaluation.Scoring;

namespace LlamaAdapter.Demo;

/// <summary>One held-out question as a method answered it.</summary>
public sealed record DemoAnswer(string Task, string Instruction, string Input, string Expected, string Generated, bool GenerationCorrect, bool ChoiceCorrect);

/// <summary>
/// Scores held-out questions two ways: the greedy answer generated after the Alpaca prompt must equal the expected
/// output exactly (after trimming whitespace), and, as a multiple-choice task, the expected output must have the
/// highest log-likelihood among the choices. Each choice is scored with the end-of-sequence token after it (training
/// ends every answer with EOS), so "ab" cannot win over "abab" just by being a prefix of it.
/// </summary>
public static class HeldOutScorer
{
    public static List<DemoAnswer> Score(IReadOnlyList<SyntheticTasks.Item> items, ITokenizer tokenizer, Func<string, string> generate,
                                         ILogLikelihoodModel scorer, IProgress<int>? progress = null, CancellationToken ct = default)
    {
        var answers = new List<DemoAnswer>(items.Count);
        for (int i = 0; i < items.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            var item = items[i];
            string prompt = AlpacaPrompt.Format(item.Example);
            string generated = generate(prompt);
            var requests = item.Choices.Select(c => ChoiceRequest(tokenizer, prompt, c)).ToList();
            var ll = scorer.Score(requests, ct);
            int best = 0;
            for (int c = 1; c < ll.Count; c++) if (ll[c].LogProb > ll[best].LogProb) best = c;
            answers.Add(new DemoAnswer(item.Task, item.Example.Instruction, item.Example.Input, item.Example.Output, generated,
                                       generated.Trim() == item.Example.Output, best == item.Gold));
            progress?.Report(i + 1);
        }
        return answers;
    }

    /// <summary>The harness's split (context and context+choice encoded whole, with BOS), then EOS.</summary>
    public static LogLikelihoodRequest ChoiceRequest(ITokenizer tokenizer, string prompt, string choice)
    {
        var pair = HarnessEncoding.EncodePair(tokenizer, prompt, choice);
        return pair with { Continuation = [.. pair.Continuation, tokenizer.EosId] };
    }
}
