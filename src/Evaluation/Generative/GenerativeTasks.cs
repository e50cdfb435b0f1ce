using LlamaAdapter.Core;
using LlamaAdapter.Evaluation.Data;
using LlamaAdapter.Evaluation.Tasks;

namespace LlamaAdapter.Evaluation.Generative;

/// <summary>
/// The reference's generative task set (example.py --typeQues arc|mmlu|truthqa): ARC-Easy and ARC-Challenge test,
/// MMLU test over all subjects, TruthfulQA mc1 targets; files found as <see cref="TaskCatalog"/> finds them.
/// </summary>
public static class GenerativeTasks
{
    public static IReadOnlyList<string> Names { get; } = ["arc_easy", "arc_challenge", "mmlu", "truthfulqa_mc1"];

    public static async Task<IReadOnlyList<GenerativeItem>> LoadAsync(string name, string dataDir, bool skipBad = false, CancellationToken ct = default)
    {
        switch (name)
        {
            case "arc_easy":
            case "arc_challenge":
            {
                string set = name == "arc_easy" ? "ARC-Easy" : "ARC-Challenge";
                var arc = await ArcReader.LoadAsync(TaskCatalog.Find(dataDir, name, TaskCatalog.ArcCandidates(set, "test", "Test")), skipBad, ct);
                return arc.Items.Select(GenerativeEvaluator.Arc).ToArray();
            }
            case "mmlu":
            {
                var bySubject = await TaskCatalog.ReadMmluSplitAsync(dataDir, "test", skipBad, ct);
                return bySubject.OrderBy(kv => kv.Key, StringComparer.Ordinal)
                    .SelectMany(kv => kv.Value.Select((x, i) => GenerativeEvaluator.Mmlu(x, $"{kv.Key}/{i}"))).ToArray();
            }
            case "truthfulqa_mc1":
                return TruthfulQaReader.Load(TaskCatalog.Find(dataDir, name, TaskCatalog.TruthfulQaCandidates), skipBad).Items.Select(GenerativeEvaluator.TruthfulQa).ToArray();
            default:
                throw new BadInputException($"--tasks: the reference protocol has no task '{name}', expected one or more of {string.Join(", ", Names)}");
        }
    }
}
