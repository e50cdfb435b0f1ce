using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Formats.Meta;
using LlamaAdapter.Core.Formats.Safetensors;

namespace LlamaAdapter.Core.Formats;

public enum ModelFileFormat { Gguf, Safetensors, MetaCheckpoint, TorchCheckpoint }

/// <summary>One metadata entry as shown to a user: its key, its type in the file's own terms, a short display value.</summary>
public sealed record MetadataEntry(string Key, string Type, string Value);

/// <summary>
/// One tensor as shown to a user. <see cref="Shape"/> is in the file's own order: ggml's ne order (fastest dimension
/// first) for GGUF, row-major (PyTorch) order for safetensors and Meta checkpoints — <see cref="ModelSummary.ShapeOrder"/> says which.
/// </summary>
public sealed record TensorEntry(string Name, string Type, long[] Shape, long Bytes);

public sealed record ModelSummary(
    string Path,
    ModelFileFormat Format,
    string ShapeOrder,
    IReadOnlyList<MetadataEntry> Metadata,
    IReadOnlyList<TensorEntry> Tensors,
    LlamaConfig? Config,
    string? ConfigNote)
{
    public long TotalBytes => Tensors.Sum(t => t.Bytes);
    public long TotalElements => Tensors.Sum(t => t.Shape.Aggregate(1L, (a, d) => a * d));
}

/// <summary>
/// Reads the header of any model file we support (GGUF, safetensors file or directory, Meta checkpoint directory,
/// a single torch .pth) into a <see cref="ModelSummary"/>; no tensor data is read. The format is chosen from the
/// file's magic bytes, not its extension.
/// </summary>
public static class ModelInspection
{
    public static ModelSummary Open(string path)
    {
        if (Directory.Exists(path)) return OpenDirectory(path);
        if (!File.Exists(path)) throw new BadInputException($"{path}: no such file or directory");

        Span<byte> magic = stackalloc byte[4];
        int n;
        using (var f = File.OpenRead(path)) n = f.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        if (n == 4 && magic.SequenceEqual("GGUF"u8)) return Gguf(path);
        if (n == 4 && magic.SequenceEqual("PK\u0003\u0004"u8)) return Torch(path);
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || n == 4) return Safetensors(path);
        throw new BadInputException($"{path}: not a model file we know (expected GGUF, safetensors, or a torch .pth zip; the file has {n} bytes)");
    }

    private static ModelSummary OpenDirectory(string dir)
    {
        if (File.Exists(System.IO.Path.Combine(dir, SafetensorsModel.IndexFileName))
            || Directory.EnumerateFiles(dir, "*.safetensors").Any())
            return Safetensors(dir);
        if (Directory.EnumerateFiles(dir, "consolidated.*.pth").Any()) return Meta(dir);
        throw new BadInputException($"{dir}: no model here (expected {SafetensorsModel.IndexFileName}, *.safetensors, or consolidated.NN.pth + params.json)");
    }

    private static ModelSummary Gguf(string path)
    {
        using var r = GgufReader.Open(path);
        var md = r.Metadata.Select(kv => new MetadataEntry(kv.Key,
            kv.Value.IsArray ? $"array<{kv.Value.ElementType}>" : kv.Value.Type.ToString(), kv.Value.ToString())).ToList();
        var tensors = r.Tensors.Select(t => new TensorEntry(t.Name, t.Type.ToString(), t.Shape.ToArray(), t.ByteSize)).ToList();
        var (config, note) = r.Metadata.GetStringOrNull("general.type") == "adapter"
            ? (null, $"an adapter ({r.Metadata.GetStringOrNull("adapter.type") ?? "unknown type"}); its base model's shape is in the metadata")
            : TryConfig(() => LlamaConfig.FromGguf(r.Metadata));
        return new ModelSummary(path, ModelFileFormat.Gguf, "ggml ne (fastest first)", md, tensors, config, note);
    }

    private static ModelSummary Safetensors(string path)
    {
        using var m = SafetensorsModel.Open(path);
        var md = m.Shards.SelectMany(s => s.Metadata.Select(kv => new MetadataEntry(kv.Key, "string", kv.Value)))
            .DistinctBy(e => e.Key).ToList();
        var tensors = m.Tensors.Select(t => new TensorEntry(t.Name, t.DType.ToString(), t.Shape, t.ByteSize)).ToList();
        string dir = Directory.Exists(path) ? path : System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        string configJson = System.IO.Path.Combine(dir, "config.json");
        var (config, note) = File.Exists(configJson)
            ? TryConfig(() => LlamaConfig.FromHfConfig(configJson))
            : (null, "no config.json beside the weights");
        return new ModelSummary(path, ModelFileFormat.Safetensors, "row-major", md, tensors, config, note);
    }

    private static ModelSummary Meta(string dir)
    {
        using var m = MetaCheckpoint.Open(dir);
        var md = new List<MetadataEntry> { new("shards", "int", m.Shards.Count.ToString(System.Globalization.CultureInfo.InvariantCulture)) };
        var tensors = m.Tensors.Select(t => new TensorEntry(t.Name, t.DType.ToString(), t.Shape, t.ByteSize)).ToList();
        return new ModelSummary(dir, ModelFileFormat.MetaCheckpoint, "row-major", md, tensors, m.Config, null);
    }

    private static ModelSummary Torch(string path)
    {
        using var c = TorchCheckpoint.Open(path);
        var tensors = c.Tensors.Select(t => new TensorEntry(t.Name, t.DType.ToString(), t.Shape, t.ByteSize)).ToList();
        return new ModelSummary(path, ModelFileFormat.TorchCheckpoint, "row-major", [], tensors, null,
            "a single .pth carries no configuration (a Meta directory has params.json)");
    }

    // A file can be a fine GGUF/safetensors without being a LLaMA (an adapter, another architecture): the listing
    // still works and the reason the configuration is absent is shown.
    private static (LlamaConfig?, string?) TryConfig(Func<LlamaConfig> read)
    {
        try { return (read(), null); }
        catch (Exception e) when (e is BadInputException or InvalidDataException or KeyNotFoundException)
        {
            return (null, e.Message);
        }
    }
}
