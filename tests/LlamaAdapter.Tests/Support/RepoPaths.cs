namespace LlamaAdapter.Tests.Support;

/// <summary>Paths tests need: the repository root and the shared data folder beside it (CI has it; a laptop may not).</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    /// <summary><c>LLAMA_ADAPTER_DATA</c>, else <c>../shared/data</c> beside the repository.</summary>
    public static string SharedData =>
        Environment.GetEnvironmentVariable("LLAMA_ADAPTER_DATA") is { Length: > 0 } d ? d
        : Path.GetFullPath(Path.Combine(Root, "..", "shared", "data"));

    public static string SharedFile(string name) => Path.Combine(SharedData, name);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LlamaAdapter.sln"))) return dir.FullName;
        throw new InvalidOperationException($"LlamaAdapter.sln not found above {AppContext.BaseDirectory}");
    }
}

/// <summary>A fact that is skipped, with the reason, when a file of the shared data folder is absent.</summary>
public sealed class SharedDataFactAttribute : FactAttribute
{
    public SharedDataFactAttribute(params string[] files)
    {
        var missing = files.Where(f => !File.Exists(RepoPaths.SharedFile(f))).ToList();
        if (missing.Count > 0) Skip = $"shared data absent: {string.Join(", ", missing)} (looked in {RepoPaths.SharedData})";
    }
}
