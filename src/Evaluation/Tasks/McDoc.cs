namespace LlamaAdapter.Evaluation.Tasks;

/// <summary>
/// One multiple-choice document as the harness's task sees it: <see cref="Query"/> is doc_to_text, the choices are
/// doc_to_choice (each scored as the continuation <c>" " + choice</c>), <see cref="Gold"/> is doc_to_target.
/// <see cref="Labels"/> is set for mc2 (1 = true answer, all of them first). <see cref="Group"/> is the MMLU subject.
/// </summary>
public sealed record McDoc(string Id, string Query, IReadOnlyList<string> Choices, int Gold, IReadOnlyList<int>? Labels = null, string? Group = null)
{
    /// <summary>Content equality, as the harness's <c>x != doc</c> compares dicts when it drops the current doc from its few-shot draw.</summary>
    public bool SameContent(McDoc other) =>
        Query == other.Query && Gold == other.Gold && Choices.SequenceEqual(other.Choices) && Group == other.Group;
}
