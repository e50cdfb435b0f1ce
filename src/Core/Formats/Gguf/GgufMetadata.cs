using System.Collections;

namespace LlamaAdapter.Core.Formats.Gguf;

/// <summary>
/// GGUF key/value metadata in file order. The typed getters name the key (and the file, when known) in their
/// errors, so a model that lacks llama.block_count says so instead of failing later.
/// </summary>
public sealed class GgufMetadata : IReadOnlyDictionary<string, GgufValue>
{
    private readonly OrderedDictionary<string, GgufValue> _items = new(StringComparer.Ordinal);

    /// <summary>The file these came from, for error messages; null for metadata built in memory.</summary>
    public string? Source { get; init; }

    public GgufValue this[string key] => _items.TryGetValue(key, out var v) ? v : throw Missing(key);

    /// <summary>Adds or replaces a key, keeping its first position.</summary>
    public void Set(string key, GgufValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        ArgumentNullException.ThrowIfNull(value);
        _items[key] = value;
    }

    public bool Remove(string key) => _items.Remove(key);

    public string GetString(string key) => Get(key, v => v.AsString());
    public long GetInt64(string key) => Get(key, v => v.AsInt64());
    public double GetDouble(string key) => Get(key, v => v.AsDouble());
    public bool GetBool(string key) => Get(key, v => v.AsBool());
    public T[] GetArray<T>(string key) => Get(key, v => v.AsArray<T>());

    public string? GetStringOrNull(string key) => ContainsKey(key) ? GetString(key) : null;
    public long? GetInt64OrNull(string key) => ContainsKey(key) ? GetInt64(key) : null;
    public double? GetDoubleOrNull(string key) => ContainsKey(key) ? GetDouble(key) : null;

    private T Get<T>(string key, Func<GgufValue, T> read)
    {
        var v = this[key];
        try { return read(v); }
        catch (InvalidDataException e) { throw new InvalidDataException($"{Where}metadata '{key}': {e.Message}", e); }
    }

    private string Where => Source is null ? "" : $"{Source}: ";
    private KeyNotFoundException Missing(string key) => new($"{Where}metadata key '{key}' is missing");

    public IEnumerable<string> Keys => _items.Keys;
    public IEnumerable<GgufValue> Values => _items.Values;
    public int Count => _items.Count;
    public bool ContainsKey(string key) => _items.ContainsKey(key);
    public bool TryGetValue(string key, out GgufValue value) => _items.TryGetValue(key, out value!);
    public IEnumerator<KeyValuePair<string, GgufValue>> GetEnumerator() => _items.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
