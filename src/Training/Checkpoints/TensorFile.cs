using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using LlamaAdapter.Core;

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
/// Named tensors and string metadata in the safetensors layout (u64 header size, JSON header with
/// dtype/shape/data_offsets and __metadata__, then the data). The training checkpoint and the extracted adapter use
/// only this class for their bytes, so it can be swapped for the shared safetensors reader/writer in one place.
/// </summary>
public static class TensorFile
{
    private static readonly Dictionary<string, int> ElementSize = new() { ["F32"] = 4, ["I64"] = 8, ["I32"] = 4, ["U8"] = 1 };
    private const long MaxHeaderBytes = 100_000_000;

    /// <summary>Writes a temporary file beside <paramref name="path"/> and moves it over: a reader never sees half a file.</summary>
    public static void Write(string path, IReadOnlyList<StoredTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        using var headerStream = new MemoryStream();
        using (var json = new Utf8JsonWriter(headerStream))
        {
            json.WriteStartObject();
            json.WriteStartObject("__metadata__");
            foreach (var (k, v) in metadata) json.WriteString(k, v);
            json.WriteEndObject();
            long offset = 0;
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var t in tensors)
            {
                if (!ElementSize.TryGetValue(t.DType, out int size)) throw new ArgumentException($"{t.Name}: dtype {t.DType} is not one of F32, I64, I32, U8");
                if (t.Name == "__metadata__" || !names.Add(t.Name)) throw new ArgumentException($"tensor name '{t.Name}' is reserved or repeated");
                long count = t.Shape.Aggregate(1L, (a, d) => checked(a * d));
                if (count * size != t.Data.Length) throw new ArgumentException($"{t.Name}: {t.Data.Length} bytes for shape [{string.Join(", ", t.Shape)}] of {t.DType}");
                json.WriteStartObject(t.Name);
                json.WriteString("dtype", t.DType);
                json.WriteStartArray("shape");
                foreach (long d in t.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + t.Data.Length);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += t.Data.Length;
            }
            json.WriteEndObject();
        }
        // The spec lets the header be padded with spaces; 8-byte alignment keeps the data section aligned.
        while (headerStream.Length % 8 != 0) headerStream.WriteByte((byte)' ');

        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        string tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
            {
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)headerStream.Length);
                fs.Write(len);
                headerStream.Position = 0;
                headerStream.CopyTo(fs);
                foreach (var t in tensors) fs.Write(t.Data);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    public static (Dictionary<string, StoredTensor> Tensors, Dictionary<string, string> Metadata) Read(string path)
    {
        if (!File.Exists(path)) throw new BadInputException($"{path}: file not found");
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < 8) throw new BadInputException($"{path}: {bytes.Length} bytes; expected at least the 8-byte header size");
        ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLen > MaxHeaderBytes || 8 + (long)headerLen > bytes.Length)
            throw new BadInputException($"{path}: header size (bytes 0..8) is {headerLen}; expected at most {Math.Min(MaxHeaderBytes, bytes.Length - 8)}");
        long dataStart = 8 + (long)headerLen;
        long dataSize = bytes.Length - dataStart;

        JsonDocument doc;
        try { doc = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLen)); }
        catch (JsonException e) { throw new BadInputException($"{path}: header (bytes 8..{dataStart}) is not valid JSON: {e.Message}", e); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new BadInputException($"{path}: header is a {doc.RootElement.ValueKind}; expected a JSON object");
            var tensors = new Dictionary<string, StoredTensor>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Name == "__metadata__")
                {
                    if (p.Value.ValueKind != JsonValueKind.Object) throw new BadInputException($"{path}: header field __metadata__ is a {p.Value.ValueKind}; expected an object of strings");
                    foreach (var m in p.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()!
                            : throw new BadInputException($"{path}: header field __metadata__.{m.Name} is a {m.Value.ValueKind}; expected a string");
                    continue;
                }
                tensors[p.Name] = ReadEntry(path, p.Name, p.Value, bytes, dataStart, dataSize);
            }
            return (tensors, metadata);
        }
    }

    private static StoredTensor ReadEntry(string path, string name, JsonElement e, byte[] bytes, long dataStart, long dataSize)
    {
        BadInputException Bad(string field, string problem) => new($"{path}: tensor '{name}' field {field}: {problem}");
        if (e.ValueKind != JsonValueKind.Object) throw Bad("(entry)", $"is a {e.ValueKind}; expected an object");
        string dtype = e.TryGetProperty("dtype", out var dt) && dt.ValueKind == JsonValueKind.String ? dt.GetString()! : throw Bad("dtype", "missing; expected a string");
        if (!ElementSize.TryGetValue(dtype, out int size)) throw Bad("dtype", $"'{dtype}'; expected F32, I64, I32 or U8");
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw Bad("shape", "missing; expected an array");
        var shape = sh.EnumerateArray().Select((d, i) => d.ValueKind == JsonValueKind.Number && d.TryGetInt64(out long v) && v >= 0 ? v
            : throw Bad("shape", $"dimension {i} is {d.GetRawText()}; expected a non-negative integer")).ToArray();
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2
            || !off[0].TryGetInt64(out long begin) || !off[1].TryGetInt64(out long end))
            throw Bad("data_offsets", "missing; expected [begin, end]");
        long count;
        try { count = shape.Aggregate(1L, (a, d) => checked(a * d)); }
        catch (OverflowException) { throw Bad("shape", "element count overflows"); }
        if (begin < 0 || end < begin || end > dataSize) throw Bad("data_offsets", $"[{begin}, {end}] is outside the data section of {dataSize} bytes");
        if (end - begin != count * size) throw Bad("data_offsets", $"span of {end - begin} bytes; expected {count * size} for shape [{string.Join(", ", shape)}] of {dtype}");
        return new StoredTensor(name, dtype, shape, bytes.AsSpan((int)(dataStart + begin), (int)(end - begin)).ToArray());
    }
}
