namespace LlamaAdapter.Core.Formats.Meta;

/// <summary>A malformed or unsupported PyTorch checkpoint; the message names the file, the entry or field, and the byte offset when meaningful.</summary>
public sealed class MetaCheckpointException(string file, string message, Exception? inner = null)
    : BadInputException($"{file}: {message}", inner)
{
    public string File { get; } = file;
}
