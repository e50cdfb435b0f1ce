using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tensors;

namespace LlamaAdapter.Core.Formats.Gguf;

/// <summary>
/// One tensor of a GGUF file. <see cref="Shape"/> is in ggml's ne order (ne[0] is the contiguous row, so a
/// PyTorch [out, in] weight has Shape [in, out]). <see cref="Offset"/> is relative to the data section, as stored;
/// <see cref="FileOffset"/> is where the bytes start in the file.
/// </summary>
public sealed record GgufTensorInfo(string Name, GgmlType Type, IReadOnlyList<long> Shape, long Offset, long ByteSize, long FileOffset)
{
    public long ElementCount => Shape.Aggregate(1L, (n, d) => checked(n * d));

    public bool Equals(GgufTensorInfo? other) =>
        other is not null && Name == other.Name && Type == other.Type && Shape.SequenceEqual(other.Shape)
        && Offset == other.Offset && ByteSize == other.ByteSize && FileOffset == other.FileOffset;

    public override int GetHashCode() => HashCode.Combine(Name, Type, Shape.Count, Offset, ByteSize, FileOffset);

    public override string ToString() => $"{Name} {Type} [{string.Join(", ", Shape)}] @{Offset} ({ByteSize} bytes)";

    /// <summary>
    /// Bytes of a tensor of <paramref name="type"/> and ne-order <paramref name="shape"/>, or the reason there is no
    /// such tensor (checked arithmetic: a shape whose element count or byte size overflows is refused, not wrapped).
    /// </summary>
    public static long ByteSizeOf(GgmlType type, ReadOnlySpan<long> shape, out string? error)
    {
        error = null;
        if (!GgmlTypeTraits.IsKnown(type)) { error = $"expected a known ggml type, got {(int)type}"; return 0; }
        if (shape.Length is 0 or > GgufLayout.MaxDims) { error = $"expected 1 to {GgufLayout.MaxDims} dimensions, got {shape.Length}"; return 0; }
        for (int i = 0; i < shape.Length; i++)
            if (shape[i] < 0) { error = $"expected ne[{i}] >= 0, got {shape[i]}"; return 0; }
        var layout = GgmlTypeTraits.Layout(type);
        if (shape[0] % layout.BlockSize != 0)
        {
            error = $"expected ne[0] to be a multiple of {type}'s block size {layout.BlockSize}, got {shape[0]}";
            return 0;
        }
        try
        {
            long elements = 1;
            foreach (long d in shape) elements = checked(elements * d);
            long rows = 1;
            for (int i = 1; i < shape.Length; i++) rows = checked(rows * shape[i]);
            return checked(shape[0] / layout.BlockSize * layout.TypeSize * rows);
        }
        catch (OverflowException)
        {
            error = $"shape [{string.Join(", ", shape.ToArray())}] of {type} overflows a 64-bit element or byte count";
            return 0;
        }
    }
}
