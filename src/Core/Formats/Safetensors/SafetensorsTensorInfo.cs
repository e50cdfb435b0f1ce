namespace LlamaAdapter.Core.Formats.Safetensors;

/// <summary>One header entry. Offsets are relative to the start of the data section (after the 8 + N header bytes).</summary>
public sealed record SafetensorsTensorInfo(string Name, SafetensorsDType DType, long[] Shape, long Begin, long End)
{
    public long ByteSize => End - Begin;
    public long ElementCount => Shape.Aggregate(1L, (a, d) => checked(a * d));
    public override string ToString() => $"{Name} {DType}[{string.Join(", ", Shape)}] @[{Begin}, {End})";
}
