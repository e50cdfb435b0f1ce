using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Evaluation.Data;
using LlamaAdapter.Evaluation.Metrics;

namespace LlamaAdapter.Evaluation.Generative;

/// <summary>One generative item: the full prompt, the choice texts to match and the gold index.</summary>
public sealed record GenerativeItem(string Id, string Prompt, IReadOnlyList<string> Choices, int Gold, string? Subject = null);

/// <summary>One outcome: the decoded response and whether check_correct accepted it.</summary>
public sealed record GenerativeResult(string Id, string Response, bool Correct, string? Subject);

/// <summary>
/// The reference's example.py evaluation: prompts as it builds them, generation, then check_correct on the text
/// after "### Response:". MMLU reports the macro average over subjects as its final "Total accuracy" line does.
/// </summary>
public sealed class GenerativeEvaluator(ITextGenerator generator, ITokenizer tokenizer, GenerationSettings settings)
{
    public static GenerativeItem Arc(ArcItem x) =>
        new(x.Id, ReferenceGenerativeProtocol.MultipleChoicePrompt(ReferenceGenerativeProtocol.ArcOrMmluInstruction(x.Question, x.Texts)), x.Texts, x.Gold);

    public static GenerativeItem Mmlu(MmluItem x, string id) =>
        new(id, ReferenceGenerativeProtocol.MmluPrompt(x.Subject, ReferenceGenerativeProtocol.ArcOrMmluInstruction(x.Question, x.Choices)), x.Choices, x.Answer, x.Subject);

    /// <summary>mc1 targets, not shuffled: gold 0.</summary>
    public static GenerativeItem TruthfulQa(TruthfulQaItem x, int index) =>
        new($"{index}", ReferenceGenerativeProtocol.MultipleChoicePrompt(ReferenceGenerativeProtocol.TruthfulQaInstructionBody(x.Question, x.Mc1Choices)), x.Mc1Choices, 0);

    public IReadOnlyList<GenerativeResult> Run(IReadOnlyList<GenerativeItem> items, IProgress<int>? progress = null, CancellationToken ct = default)
    {
        var results = new List<GenerativeResult>(items.Count);
        foreach (var item in items)
        {
            var prompt = tokenizer.Encode(item.Prompt, addBos: true, addEos: false);
            var generated = generator.Generate(prompt, settings, ct);
            // The reference decodes prompt + generation and splits on the last "### Response:".
            string text = tokenizer.Decode([.. prompt, .. generated]);
            string response = ReferenceGenerativeProtocol.Response(text);
            results.Add(new GenerativeResult(item.Id, response, ReferenceGenerativeProtocol.CheckCorrect(item.Choices, response, item.Gold), item.Subject));
            progress?.Report(results.Count);
        }
        return results;
    }

    /// <summary>Accuracy over items (micro) and, when items carry subjects, the mean of per-subject accuracies (macro).</summary>
    public static (MetricValue Micro, double? Macro) Accuracy(IReadOnlyList<GenerativeResult> results)
    {
        var micro = Aggregate.Mean(results.Select(r => r.Correct ? 1.0 : 0.0).ToArray());
        if (results.All(r => r.Subject is null)) return (micro, null);
        double macro = results.GroupBy(r => r.Subject).Average(g => g.Average(r => r.Correct ? 1.0 : 0.0));
        return (micro, macro);
    }
}
