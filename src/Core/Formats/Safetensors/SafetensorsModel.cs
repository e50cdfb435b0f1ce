using System.Text.Json;

namespace LlamaAdapter.Core.Formats.Safetensors;

/// <summary>
/// A model stored as one safetensors file or as shards listed by <c>model.safetensors.index.json</c>
/// (<c>{"metadata": {...}, "weight_map": {tensor: shard file}}</c>). Each shard is opened once; the map and the
/// shards must agree exactly.
/// </summary>
public sealed class SafetensorsModel : IDisposable
{
    public const string IndexFileName = "model.safetensors.index.json";
    public const string SingleFileName = "model.safetensors";

    private readonly List<SafetensorsReader> _shards;
    private readonly Dictionary<string, SafetensorsReader> _owner;

    /// <summary>Every tensor, in shard order then header order.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }
    public IReadOnlyList<SafetensorsReader> Shards => _shards;

    private SafetensorsModel(List<SafetensorsReader> shards, Dictionary<string, SafetensorsReader> owner, List<SafetensorsTensorInfo> tensors)
    {
        _shards = shards;
        _owner = owner;
        Tensors = tensors;
    }

    /// <summary>A .safetensors file, an index .json, or a directory holding an index or model.safetensors.</summary>
    public static SafetensorsModel Open(string dirOrFile)
    {
        if (File.Exists(dirOrFile))
            return dirOrFile.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? OpenIndex(dirOrFile) : OpenSingle(dirOrFile);
        if (!Directory.Exists(dirOrFile)) throw new SafetensorsFormatException(dirOrFile, "no such file or directory");
        string index = Path.Combine(dirOrFile, IndexFileName);
        if (File.Exists(index)) return OpenIndex(index);
        string single = Path.Combine(dirOrFile, SingleFileName);
        if (File.Exists(single)) return OpenSingle(single);
        throw new SafetensorsFormatException(dirOrFile, $"directory holds neither {IndexFileName} nor {SingleFileName}");
    }

    private static SafetensorsModel OpenSingle(string path)
    {
        var r = SafetensorsReader.Open(path);
        return new SafetensorsModel([r], r.Tensors.ToDictionary(t => t.Name, _ => r, StringComparer.Ordinal), [.. r.Tensors]);
    }

    private static SafetensorsModel OpenIndex(string indexPath)
    {
        var weightMap = ReadWeightMap(indexPath);
        string dir = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        var shards = new List<SafetensorsReader>();
        try
        {
            var byFile = new Dictionary<string, SafetensorsReader>(StringComparer.Ordinal);
            foreach (string shardName in weightMap.Values.Distinct(StringComparer.Ordinal))
            {
                string shardPath = Path.Combine(dir, shardName);
                if (!File.Exists(shardPath))
                    throw new SafetensorsFormatException(indexPath, $"weight_map names shard '{shardName}', which does not exist ({shardPath})");
                var r = SafetensorsReader.Open(shardPath);
                shards.Add(r);
                byFile[shardName] = r;
            }
            var owner = new Dictionary<string, SafetensorsReader>(StringComparer.Ordinal);
            var tensors = new List<SafetensorsTensorInfo>();
            foreach (var r in shards)
                foreach (var t in r.Tensors)
                {
                    if (owner.TryGetValue(t.Name, out var first))
                        throw new SafetensorsFormatException(r.Path, $"tensor '{t.Name}' is also in shard {Path.GetFileName(first.Path)}; each tensor must live in exactly one shard");
                    if (!weightMap.TryGetValue(t.Name, out string? mapped))
                        throw new SafetensorsFormatException(indexPath, $"weight_map lacks tensor '{t.Name}' found in shard {Path.GetFileName(r.Path)}");
                    if (byFile[mapped] != r)
                        throw new SafetensorsFormatException(indexPath, $"weight_map.{t.Name} is '{mapped}' but the tensor is in shard {Path.GetFileName(r.Path)}");
                    owner[t.Name] = r;
                    tensors.Add(t);
                }
            foreach (var (name, shard) in weightMap)
                if (!owner.ContainsKey(name))
                    throw new SafetensorsFormatException(byFile[shard].Path, $"tensor '{name}' is missing; {IndexFileName} maps it to this shard");
            return new SafetensorsModel(shards, owner, tensors);
        }
        catch
        {
            foreach (var r in shards) r.Dispose();
            throw;
        }
    }

    private static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(indexPath)); }
        catch (JsonException e) { throw new SafetensorsFormatException(indexPath, $"not valid JSON: {e.Message}", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
                throw new SafetensorsFormatException(indexPath, "field weight_map: missing or not an object of tensor name → shard file");
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in wm.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw new SafetensorsFormatException(indexPath, $"field weight_map.{p.Name}: expected a shard file name string, found {p.Value.ValueKind}");
                string shard = p.Value.GetString()!;
                if (shard.Length == 0 || Path.GetFileName(shard) != shard || shard is "." or "..")
                    throw new SafetensorsFormatException(indexPath, $"field weight_map.{p.Name}: '{shard}' is not a plain file name in the index's directory");
                if (!map.TryAdd(p.Name, shard))
                    throw new SafetensorsFormatException(indexPath, $"field weight_map: tensor '{p.Name}' listed twice");
            }
            return map;
        }
    }

    public bool Contains(string name) => _owner.ContainsKey(name);

    public SafetensorsReader ShardOf(string name) =>
        _owner.TryGetValue(name, out var r) ? r : throw new KeyNotFoundException($"no tensor named '{name}' in the model ({string.Join(", ", _shards.Select(s => Path.GetFileName(s.Path)))})");

    public SafetensorsTensorInfo this[string name] => ShardOf(name)[name];

    /// <summary>The tensor's bytes, a view of its shard's mapping; valid until Dispose.</summary>
    public ReadOnlySpan<byte> GetBytes(string name) => ShardOf(name).GetBytes(name);

    /// <summary>Drops the tensor's pages from the resident set once read (they stay in the page cache).</summary>
    public void Release(string name) => ShardOf(name).Release(name);

    public void Dispose()
    {
        foreach (var r in _shards) r.Dispose();
    }
}
