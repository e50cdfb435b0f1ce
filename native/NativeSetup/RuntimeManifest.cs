using System.Text.Json;
using System.Text.Json.Serialization;

namespace LlamaAdapter.NativeSetup;

/// <summary>native/ggml-runtime.json: one npm package pinned by version and sha512 integrity, and the files taken from it.</summary>
public sealed record RuntimeManifest(
    [property: JsonPropertyName("package")] string Package,
    [property: JsonPropertyName("version")] string Version,
    [property: JsonPropertyName("integrity")] string Integrity,
    [property: JsonPropertyName("root")] string Root,
    [property: JsonPropertyName("files")] IReadOnlyList<string> Files)
{
    public static RuntimeManifest Load(string path)
    {
        RuntimeManifest? m;
        try { m = JsonSerializer.Deserialize<RuntimeManifest>(File.ReadAllText(path)); }
        catch (JsonException e) { throw new SetupException(path, $"not valid JSON ({e.Message})"); }
        if (m is null) throw new SetupException(path, "empty manifest");
        foreach (var (field, value) in new[] { ("package", m.Package), ("version", m.Version), ("integrity", m.Integrity), ("root", m.Root) })
            if (string.IsNullOrWhiteSpace(value)) throw new SetupException(path, $"field '{field}' is missing");
        if (!m.Integrity.StartsWith("sha512-", StringComparison.Ordinal))
            throw new SetupException(path, $"field 'integrity' must be an npm sha512 integrity string (sha512-...), got '{m.Integrity}'");
        if (m.Files is null || m.Files.Count == 0) throw new SetupException(path, "field 'files' must list at least one file");
        return m;
    }
}

/// <summary>A set-up failure reported as one line MSBuild shows as an error (file : error CODE: message).</summary>
public sealed class SetupException(string file, string message) : Exception(message)
{
    public string File { get; } = file;
    public override string ToString() => $"{File} : error LA0001: {Message}";
}
