using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Core.Formats.Gguf;

/// <summary>A tensor to be written: its name, type and shape in ggml ne order (ne[0] is the contiguous row).</summary>
public sealed record GgufTensorSpec(string Name, GgmlType Type, IReadOnlyList<long> Shape)
{
    public bool Equals(GgufTensorSpec? other) =>
        other is not null && Name == other.Name && Type == other.Type && Shape.SequenceEqual(other.Shape);

    public override int GetHashCode() => HashCode.Combine(Name, Type, Shape.Count);
}
