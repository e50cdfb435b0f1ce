using LlamaAdapter.Core;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Evaluation.Metrics;
using LlamaAdapter.Evaluation.Reports;
using LlamaAdapter.Evaluation.Scoring;
using LlamaAdapter.Evaluation.Tasks;

namespace LlamaAdapter.Evaluation;

/// <summary>
/// How much to run: shots (null = each task's default), documents per subtask (the harness's --limit), the few-shot
/// seed, and how many documents' requests go to the model per call.
/// </summary>
public sealed record EvalOptions(int? Shots = null, int? Limit = null, ulong Seed = 1234, int DocsPerCall = 8);

/// <summary>Progress: the subtask being scored, documents done in the whole run and their total.</summary>
public readonly record struct EvalProgress(string Subtask, int Done, int Total);

/// <summary>
/// Runs multiple-choice tasks as lm-evaluation-harness does: per document, the few-shot context, one loglikelihood
/// request per choice (continuation <c>" " + choice</c>), then the task's metrics, means with stderr, and groups
/// weighted by size.
/// </summary>
public sealed class Evaluator(ILogLikelihoodModel model, ITokenizer tokenizer)
{
    public EvalReport Run(IReadOnlyList<EvalTask> tasks, EvalOptions options, EvalSettings settings, IProgress<EvalProgress>? progress = null, CancellationToken ct = default)
    {
        if (options.Limit is <= 0) throw new BadInputException($"--limit: expected a positive number of documents, got {options.Limit}");
        if (options.DocsPerCall <= 0) throw new ArgumentOutOfRangeException(nameof(options), options.DocsPerCall, "DocsPerCall: expected a positive number");
        if (options.Shots is < 0) throw new BadInputException($"--shots: expected 0 or more, got {options.Shots}");
        int total = tasks.Sum(t => t.Subtasks.Sum(s => Limited(s).Count));
        int done = 0;
        var rows = new List<ResultRow>();
        var samples = new List<SubtaskSamples>();
        foreach (var task in tasks)
        {
            int shots = options.Shots ?? task.DefaultShots;
            var perSubtask = new List<(EvalSubtask Sub, Dictionary<string, MetricValue> Metrics)>();
            foreach (var sub in task.Subtasks)
            {
                if (shots > 0 && sub.FewShotPool.Count == 0)
                    throw new BadInputException($"{sub.Name}: --shots {shots} needs few-shot examples, and none were loaded (train/dev split missing)");
                var fewShot = new FewShotContext(sub.Sampler, sub.FewShotPool, sub.DrawsOneExtra, options.Seed);
                var docs = new List<DocResult>();
                // Contexts are built in document order (the few-shot draws share one random stream); the requests of
                // several documents go to the model in one call so it can fill its batches.
                foreach (var chunk in Limited(sub).Chunk(options.DocsPerCall))
                {
                    ct.ThrowIfCancellationRequested();
                    var contexts = chunk.Select(doc => fewShot.Build(doc, shots, sub.Description)).ToArray();
                    var requests = chunk.SelectMany((doc, i) => doc.Choices.Select(c => HarnessEncoding.EncodePair(tokenizer, contexts[i], FewShotContext.TargetDelimiter + c))).ToArray();
                    var scored = model.Score(requests, ct);
                    if (scored.Count != requests.Length)
                        throw new InvalidOperationException($"the model answered {scored.Count} of {requests.Length} loglikelihood requests");
                    int at = 0;
                    for (int i = 0; i < chunk.Length; i++)
                    {
                        docs.Add(Result(chunk[i], contexts[i], scored.Skip(at).Take(chunk[i].Choices.Count).ToArray(), task.Metrics));
                        at += chunk[i].Choices.Count;
                        progress?.Report(new EvalProgress(sub.Name, ++done, total));
                    }
                }
                samples.Add(new SubtaskSamples(sub.Name, docs));
                perSubtask.Add((sub, Summarise(docs, task.Metrics)));
            }
            rows.AddRange(Rows(task, shots, perSubtask));
        }
        return new EvalReport(settings, rows, samples, tasks.ToDictionary(t => t.Name, t => t.Skipped));

        IReadOnlyList<McDoc> Limited(EvalSubtask s) => options.Limit is { } l ? s.Docs.Take(l).ToArray() : s.Docs;
    }

    private static DocResult Result(McDoc doc, string context, IReadOnlyList<LogLikelihood> scored, TaskMetrics metrics)
    {
        var lls = scored.Select(s => s.LogProb).ToArray();
        return new DocResult(doc.Id, context, doc.Choices, doc.Gold, lls, scored.Select(s => s.IsGreedy).ToArray(),
            ChoiceMetrics.Predict(lls), ChoiceMetrics.PredictNorm(lls, doc.Choices), ChoiceMetrics.PredictBytes(lls, doc.Choices),
            doc.Labels, metrics == TaskMetrics.Mc2 ? ChoiceMetrics.Mc2(lls, doc.Labels!) : null);
    }

    private static Dictionary<string, MetricValue> Summarise(IReadOnlyList<DocResult> docs, TaskMetrics metrics)
    {
        double Hit(bool b) => b ? 1.0 : 0.0;
        var m = new Dictionary<string, MetricValue>(StringComparer.Ordinal);
        switch (metrics)
        {
            case TaskMetrics.AccAndNorm:
                m["acc"] = Aggregate.Mean(docs.Select(d => Hit(d.Prediction == d.Gold)).ToArray());
                m["acc_norm"] = Aggregate.Mean(docs.Select(d => Hit(d.PredictionNorm == d.Gold)).ToArray());
                m["acc_bytes"] = Aggregate.Mean(docs.Select(d => Hit(d.PredictionBytes == d.Gold)).ToArray());
                break;
            case TaskMetrics.Acc:
            case TaskMetrics.Mc1:
                m["acc"] = Aggregate.Mean(docs.Select(d => Hit(d.Prediction == d.Gold)).ToArray());
                break;
            case TaskMetrics.Mc2:
                m["acc"] = Aggregate.Mean(docs.Select(d => d.Mc2!.Value).ToArray());
                break;
        }
        return m;
    }

    /// <summary>The task row first, then its groups and subtasks; groups pool their children (the harness's group tree).</summary>
    private static IEnumerable<ResultRow> Rows(EvalTask task, int shots, List<(EvalSubtask Sub, Dictionary<string, MetricValue> Metrics)> parts)
    {
        if (parts.Count == 1) { yield return new ResultRow(task.Name, 0, shots, parts[0].Metrics); yield break; }
        var groups = task.Category is { } cat
            ? parts.GroupBy(p => cat(p.Sub.Name)).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => (Name: g.Key, Parts: g.ToList())).ToList()
            : [(task.Name, parts)];
        var groupRows = groups.Select(g => (g.Name, g.Parts, Metrics: Pool(g.Parts.Select(p => p.Metrics).ToList()))).ToList();
        yield return new ResultRow(task.Name, 0, shots, groupRows.Count == 1 ? groupRows[0].Metrics : Pool(groupRows.Select(g => g.Metrics).ToList()));
        foreach (var g in groupRows)
        {
            if (groupRows.Count > 1) yield return new ResultRow(g.Name, 1, shots, g.Metrics);
            foreach (var p in g.Parts) yield return new ResultRow(p.Sub.Name, 2, shots, p.Metrics);
        }
    }

    private static Dictionary<string, MetricValue> Pool(IReadOnlyList<Dictionary<string, MetricValue>> children) =>
        children[0].Keys.ToDictionary(k => k, k => Aggregate.Pooled(children.Select(c => c[k]).ToList()), StringComparer.Ordinal);
}
