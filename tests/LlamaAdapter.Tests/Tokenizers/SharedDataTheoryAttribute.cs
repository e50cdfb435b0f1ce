using LlamaAdapter.Tests.Support;

namespace LlamaAdapter.Tests.Tokenizers;

/// <summary>A theory that is skipped, with the reason, when a file of the shared data folder is absent.</summary>
public sealed class SharedDataTheoryAttribute : TheoryAttribute
{
    public SharedDataTheoryAttribute(params string[] files)
    {
        var missing = files.Where(f => !File.Exists(RepoPaths.SharedFile(f))).ToList();
        if (missing.Count > 0) Skip = $"shared data absent: {string.Join(", ", missing)} (looked in {RepoPaths.SharedData})";
    }
}
