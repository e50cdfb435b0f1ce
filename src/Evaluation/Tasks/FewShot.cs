namespace LlamaAdapter.Evaluation.Tasks;

/// <summary>How a task picks its few-shot examples (harness api/samplers.py).</summary>
public enum FewShotSampler
{
    /// <summary>ContextSampler: <c>rnd.sample(docs, n)</c> from one Random(seed) shared by the task's documents in order.</summary>
    Random,
    /// <summary>FirstNSampler: the first n few-shot docs (MMLU's dev split, per subject).</summary>
    FirstN,
}

/// <summary>
/// Builds the harness's context string: description + examples, each <c>query + " " + gold choice</c> followed by
/// "\n\n", then the query. With the random sampler it draws one extra example when the few-shot split "equals" the
/// evaluation split — including the harness's <c>None == None</c> case (HellaSwag, TruthfulQA) — drops any example
/// equal to the current document and keeps the first n.
/// </summary>
public sealed class FewShotContext(FewShotSampler sampler, IReadOnlyList<McDoc> pool, bool drawsOneExtra, ulong seed)
{
    private readonly PythonRandom rnd = new(seed);

    public const string TargetDelimiter = " ";
    public const string FewShotDelimiter = "\n\n";

    public string Build(McDoc doc, int shots, string description = "")
    {
        if (shots == 0) return description + doc.Query;
        IEnumerable<McDoc> chosen;
        if (sampler == FewShotSampler.FirstN)
        {
            if (shots > pool.Count) throw new LlamaAdapter.Core.BadInputException($"--shots {shots}: only {pool.Count} few-shot examples are available for '{doc.Group}'");
            chosen = pool.Take(shots);
        }
        else
        {
            int n = drawsOneExtra ? shots + 1 : shots;
            if (n > pool.Count) throw new LlamaAdapter.Core.BadInputException($"--shots {shots}: the few-shot pool has only {pool.Count} documents, {n} are drawn");
            chosen = rnd.SampleIndices(pool.Count, n).Select(i => pool[i]).Where(x => !x.SameContent(doc)).Take(shots);
        }
        var examples = string.Join(FewShotDelimiter, chosen.Select(x => x.Query + TargetDelimiter + x.Choices[x.Gold]));
        return description + examples + FewShotDelimiter + doc.Query;
    }
}
