using System.Text.Json;

namespace LlamaAdapter.Core.Config;

public sealed partial record LlamaConfig
{
    /// <summary>Typed reads of a JSON config object whose errors name the file, the field and the expected value.</summary>
    private sealed class JsonFields(string file, JsonElement root)
    {
        public string File => file;

        public static JsonFields Load(string path, out JsonDocument doc)
        {
            if (!System.IO.File.Exists(path)) throw new BadInputException($"{path}: file not found");
            try { doc = JsonDocument.Parse(System.IO.File.ReadAllBytes(path)); }
            catch (JsonException e) { throw new BadInputException($"{path}: not valid JSON: {e.Message}", e); }
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new BadInputException($"{path}: expected a JSON object at the top level, found {doc.RootElement.ValueKind}");
            return new JsonFields(path, doc.RootElement);
        }

        public BadInputException Bad(string field, string expected, JsonElement? found = null) =>
            new($"{file}: field '{field}': expected {expected}{(found is { } f ? $", found {f.GetRawText()}" : " (missing)")}");

        /// <summary>The field, or null when absent or JSON null.</summary>
        public JsonElement? Get(string field) =>
            root.TryGetProperty(field, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

        public int Int(string field) => IntOrNull(field) ?? throw Bad(field, "an integer");

        public int? IntOrNull(string field) => Get(field) is not { } v ? null
            : v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) ? i
            : v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out double d) && d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue ? (int)d
            : throw Bad(field, "an integer", v);

        public double? DoubleOrNull(string field) => Get(field) is not { } v ? null
            : v.ValueKind == JsonValueKind.Number ? v.GetDouble()
            : throw Bad(field, "a number", v);

        public bool? BoolOrNull(string field) => Get(field) is not { } v ? null
            : v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean()
            : throw Bad(field, "true or false", v);

        public string? StringOrNull(string field) => Get(field) is not { } v ? null
            : v.ValueKind == JsonValueKind.String ? v.GetString()
            : throw Bad(field, "a string", v);

        public JsonFields? ObjectOrNull(string field) => Get(field) is not { } v ? null
            : v.ValueKind == JsonValueKind.Object ? new JsonFields(file, v)
            : throw Bad(field, "an object", v);
    }

    /// <summary>Validates, reporting an impossible shape as bad input of <paramref name="source"/>.</summary>
    private LlamaConfig ValidatedFrom(string source)
    {
        try { return Validate(source); }
        catch (InvalidDataException e) { throw new BadInputException(e.Message, e); }
    }
}
