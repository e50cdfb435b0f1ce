namespace LlamaAdapter.Core.Formats.Safetensors;

/// <summary>A malformed safetensors file or shard index; the message names the file, the field or tensor and what was expected.</summary>
public sealed class SafetensorsFormatException(string file, string message, Exception? inner = null)
    : BadInputException($"{file}: {message}", inner)
{
    public string File { get; } = file;
}
