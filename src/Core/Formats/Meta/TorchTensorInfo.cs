using LlamaAdapter.Core.Formats.Safetensors;

namespace LlamaAdapter.Core.Formats.Meta;

/// <summary>A tensor of a PyTorch checkpoint as it will be handed out: row-major contiguous bytes of <see cref="DType"/>.</summary>
public sealed record TorchTensorInfo(string Name, SafetensorsDType DType, long[] Shape)
{
    public long ElementCount => Shape.Aggregate(1L, (a, d) => checked(a * d));
    public long ByteSize => checked(ElementCount * DType.ElementSize());
    public override string ToString() => $"{Name} {DType}[{string.Join(", ", Shape)}]";
}
