namespace LlamaAdapter.Evaluation.Tasks;

/// <summary>Which numbers a task reports (the metric_list of its YAML).</summary>
public enum TaskMetrics
{
    /// <summary>acc and acc_norm (ARC, HellaSwag); acc_bytes is reported beside them.</summary>
    AccAndNorm,
    /// <summary>acc only (MMLU).</summary>
    Acc,
    /// <summary>truthfulqa_mc1: acc = the gold (first) choice has the highest log-likelihood.</summary>
    Mc1,
    /// <summary>truthfulqa_mc2: acc = normalised probability mass of the true answers.</summary>
    Mc2,
}

/// <summary>
/// One scored unit of the harness (a task; MMLU has one per subject): its documents in order, where its few-shot
/// examples come from, and the description put before them.
/// </summary>
public sealed record EvalSubtask(
    string Name,
    IReadOnlyList<McDoc> Docs,
    IReadOnlyList<McDoc> FewShotPool,
    FewShotSampler Sampler,
    bool DrawsOneExtra,
    string Description = "");

/// <summary>A task as the command names it; several subtasks are averaged as the harness's group does (by size).</summary>
public sealed record EvalTask(string Name, TaskMetrics Metrics, IReadOnlyList<EvalSubtask> Subtasks, int DefaultShots = 0)
{
    /// <summary>The group a subtask is pooled into below the task (MMLU's categories), or null.</summary>
    public Func<string, string>? Category { get; init; }

    /// <summary>Malformed records dropped under --skip-bad while loading this task's files.</summary>
    public int Skipped { get; init; }
}
