namespace LlamaAdapter.Demo;

/// <summary>
/// One synthetic instruction task: a few phrasings of the instruction, a seeded input generator, the answer, and
/// wrong answers that are plausible because other tasks give them for the same input (the multiple-choice set).
/// </summary>
public sealed record SyntheticTask(
    string Name,
    IReadOnlyList<string> Instructions,
    Func<Random, string> MakeInput,
    Func<string, string> Answer,
    Func<string, Random, IEnumerable<string>> WrongAnswers);
