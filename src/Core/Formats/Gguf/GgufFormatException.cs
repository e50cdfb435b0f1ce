namespace LlamaAdapter.Core.Formats.Gguf;

/// <summary>
/// A GGUF file that breaks the format: the message names the file, the field, the byte offset where it sits and
/// what was expected there, e.g. "model.gguf: tensor 12 'blk.0.attn_q.weight' offset at byte 1234: expected a
/// multiple of 32, got 17".
/// </summary>
public sealed class GgufFormatException : BadInputException
{
    public string File { get; }
    public string Field { get; }
    /// <summary>Byte offset of the field in the file; null when the problem has no single position (a missing tensor).</summary>
    public long? Offset { get; }

    public GgufFormatException(string file, string field, long? offset, string detail, Exception? inner = null)
        : base($"{file}: {field}{(offset is { } o ? $" at byte {o}" : "")}: {detail}", inner)
    {
        File = file;
        Field = field;
        Offset = offset;
    }
}
