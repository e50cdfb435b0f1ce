using System.Runtime.InteropServices;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats.Safetensors;

namespace LlamaAdapter.Training.Checkpoints;

/// <summary>One tensor's raw little-endian bytes, row-major, with its safetensors dtype name (F32, I64, I32, U8).</summary>
public sealed record StoredTensor(string Name, string DType, long[] Shape, byte[] Data)
{
    public static StoredTensor Of(string name, float[] values, params long[] shape) => new(name, "F32", shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
    public static StoredTensor Of(string name, int[] values) => new(name, "I32", [values.Length], MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
    public static StoredTensor Of(string name, byte[] values) => new(name, "U8", [values.Length], values);

    public float[] AsFloats() => DType == "F32" ? MemoryMarshal.Cast<byte, float>(Data).ToArray() : throw new InvalidOperationException($"{Name} is {DType}, not F32");
    public int[] AsInts() => DType == "I32" ? MemoryMarshal.Cast<byte, int>(Data).ToArray() : throw new InvalidOperationException($"{Name} is {DType}, not I32");
}

/// <summary>
/// Named tensors and string metadata as a safetensors file, through the shared reader and writer (atomic write,
/// validated header). The training checkpoint and the extracted adapter go through this class only.
/// </summary>
public static class TensorFile
{
    private static SafetensorsDType DTypeOf(StoredTensor t) => t.DType switch
    {
        "F32" => SafetensorsDType.F32,
        "I64" => SafetensorsDType.I64,
        "I32" => SafetensorsDType.I32,
        "U8" => SafetensorsDType.U8,
        _ => throw new ArgumentException($"{t.Name}: dtype {t.DType} is not one of F32, I64, I32, U8"),
    };

    /// <summary>Writes a temporary file beside <paramref name="path"/> and moves it over: a reader never sees half a file.</summary>
    public static void Write(string path, IReadOnlyList<StoredTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        foreach (var t in tensors)
        {
            long bytes = t.Shape.Aggregate(1L, (a, d) => checked(a * d)) * DTypeOf(t).ElementSize();
            if (bytes != t.Data.Length) throw new ArgumentException($"{t.Name}: {t.Data.Length} bytes for shape [{string.Join(", ", t.Shape)}] of {t.DType}");
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var w = new SafetensorsWriter(path, tensors.Select(t => new SafetensorsTensorDecl(t.Name, DTypeOf(t), t.Shape)), metadata);
        foreach (var t in tensors) w.WriteTensor(t.Name, t.Data);
        w.Commit();
    }

    /// <summary>All tensors (copied out of the mapping) and the metadata; only F32, I64, I32 and U8 tensors are accepted.</summary>
    public static (Dictionary<string, StoredTensor> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        if (!File.Exists(path)) throw new BadInputException($"{path}: file not found");
        using var r = SafetensorsReader.Open(path);
        var tensors = new Dictionary<string, StoredTensor>(StringComparer.Ordinal);
        foreach (var info in r.Tensors)
        {
            string dtype = info.DType switch
            {
                SafetensorsDType.F32 => "F32",
                SafetensorsDType.I64 => "I64",
                SafetensorsDType.I32 => "I32",
                SafetensorsDType.U8 => "U8",
                var d => throw new BadInputException($"{path}: tensor '{info.Name}' field dtype: {d}; expected F32, I64, I32 or U8"),
            };
            tensors[info.Name] = new StoredTensor(info.Name, dtype, info.Shape, r.GetBytes(info.Name).ToArray());
        }
        return (tensors, new Dictionary<string, string>(r.Metadata, StringComparer.Ordinal));
    }
}
