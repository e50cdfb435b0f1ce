using System.Text;
using System.Text.Json;

namespace LlamaAdapter.Core.Formats.Safetensors;

/// <summary>
/// The JSON header of a safetensors file, validated against the data section it describes: every dtype known,
/// every byte range inside the data and exactly product(shape)·element-size long, no two ranges overlapping.
/// </summary>
internal static class SafetensorsHeader
{
    public const long MaxHeaderBytes = 100_000_000;

    public static (List<SafetensorsTensorInfo> Tensors, Dictionary<string, string> Metadata) Parse(
        string file, ReadOnlySpan<byte> json, long dataSize)
    {
        if (!System.Text.Unicode.Utf8.IsValid(json))
        {
            int at = FirstInvalidUtf8(json);
            throw new SafetensorsFormatException(file, $"header is not valid UTF-8 at header byte {at} (file offset {8 + at})");
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new SafetensorsFormatException(file, $"header (bytes 8..{8 + json.Length}) is not valid UTF-8 JSON: {e.Message}", e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new SafetensorsFormatException(file, $"header: expected a JSON object, found {root.ValueKind}");
            var tensors = new List<SafetensorsTensorInfo>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in root.EnumerateObject())
            {
                if (!seen.Add(p.Name)) throw new SafetensorsFormatException(file, $"header: key '{p.Name}' appears twice");
                if (p.Name == "__metadata__") ReadMetadata(file, p.Value, metadata);
                else tensors.Add(ReadTensor(file, p.Name, p.Value, dataSize));
            }
            CheckNoOverlap(file, tensors);
            return (tensors, metadata);
        }
    }

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> s)
    {
        for (int i = 0; i < s.Length;)
        {
            if (System.Text.Rune.DecodeFromUtf8(s[i..], out _, out int n) != System.Buffers.OperationStatus.Done) return i;
            i += n;
        }
        return s.Length;
    }

    private static void ReadMetadata(string file, JsonElement e, Dictionary<string, string> into)
    {
        if (e.ValueKind != JsonValueKind.Object)
            throw new SafetensorsFormatException(file, $"header field __metadata__: expected an object of string values, found {e.ValueKind}");
        foreach (var p in e.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.String)
                throw new SafetensorsFormatException(file, $"header field __metadata__.{p.Name}: expected a string, found {p.Value.ValueKind}");
            into[p.Name] = p.Value.GetString()!;
        }
    }

    private static SafetensorsTensorInfo ReadTensor(string file, string name, JsonElement e, long dataSize)
    {
        SafetensorsFormatException Bad(string field, string problem) => new(file, $"tensor '{name}' field {field}: {problem}");
        if (e.ValueKind != JsonValueKind.Object) throw Bad("(entry)", $"expected an object with dtype, shape, data_offsets, found {e.ValueKind}");

        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw Bad("dtype", "missing or not a string");
        string dtName = dt.GetString()!;
        if (!SafetensorsDTypes.TryParse(dtName, out var dtype)) throw Bad("dtype", $"'{dtName}' is unknown; expected one of {SafetensorsDTypes.Expected}");

        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw Bad("shape", "missing or not an array");
        var shape = new long[sh.GetArrayLength()];
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0)
                throw Bad("shape", $"dimension {i} is {d.GetRawText()}; expected a non-negative integer");
            shape[i++] = v;
        }

        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw Bad("data_offsets", "missing or not an array of two integers [begin, end]");
        long begin = ReadOffset(off[0], Bad), end = ReadOffset(off[1], Bad);
        if (begin > end) throw Bad("data_offsets", $"begin {begin} > end {end}");
        if (end > dataSize) throw Bad("data_offsets", $"end {end} lies beyond the data section of {dataSize} bytes");

        long expected;
        try { expected = checked(shape.Aggregate(1L, (a, d) => checked(a * d)) * dtype.ElementSize()); }
        catch (OverflowException) { throw Bad("shape", $"[{string.Join(", ", shape)}] of {dtype} overflows 64-bit byte counts"); }
        if (end - begin != expected)
            throw Bad("data_offsets", $"[{begin}, {end}) holds {end - begin} bytes; expected {expected} = product(shape [{string.Join(", ", shape)}]) × {dtype.ElementSize()} ({dtype})");
        return new SafetensorsTensorInfo(name, dtype, shape, begin, end);
    }

    private static long ReadOffset(JsonElement v, Func<string, string, SafetensorsFormatException> bad) =>
        v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long x) && x >= 0 ? x
        : throw bad("data_offsets", $"{v.GetRawText()} is not a non-negative 64-bit integer");

    private static void CheckNoOverlap(string file, List<SafetensorsTensorInfo> tensors)
    {
        // Empty tensors occupy no bytes and may share an offset with anything.
        var sorted = tensors.Where(t => t.ByteSize > 0).OrderBy(t => t.Begin).ToList();
        for (int i = 1; i < sorted.Count; i++)
            if (sorted[i].Begin < sorted[i - 1].End)
                throw new SafetensorsFormatException(file,
                    $"tensor '{sorted[i].Name}' data_offsets [{sorted[i].Begin}, {sorted[i].End}) overlap tensor '{sorted[i - 1].Name}' [{sorted[i - 1].Begin}, {sorted[i - 1].End})");
    }

    /// <summary>The header bytes as the reference writer emits them: compact JSON padded with spaces to a multiple of 8.</summary>
    public static byte[] Serialize(IReadOnlyList<SafetensorsTensorInfo> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            foreach (var t in tensors)
            {
                w.WriteStartObject(t.Name);
                w.WriteString("dtype", t.DType.ToString());
                w.WriteStartArray("shape");
                foreach (long d in t.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(t.Begin);
                w.WriteNumberValue(t.End);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        int pad = (int)((8 - ms.Length % 8) % 8);
        ms.Write(Encoding.ASCII.GetBytes(new string(' ', pad)));
        return ms.ToArray();
    }
}
