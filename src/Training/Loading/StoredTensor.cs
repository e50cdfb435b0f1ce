using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Training.Loading;

/// <summary>
/// One weight as a checkpoint stores it: <see cref="FileName"/> is the file's own spelling (for error messages),
/// <see cref="Shape"/> is row-major (PyTorch order; GGUF's ne order already reversed), <see cref="Type"/> the element
/// encoding in ggml's terms (safetensors F32/F16/BF16/F64 map onto the same ggml types).
/// </summary>
public sealed record StoredTensor(string FileName, GgmlType Type, long[] Shape, long ByteSize)
{
    public long ElementCount => Shape.Aggregate(1L, (a, d) => checked(a * d));

    /// <summary>The contiguous last dimension (a quantized type's blocks run along it); 1-D tensors are one row.</summary>
    public long RowLength => Shape.Length == 0 ? 1 : Shape[^1];

    public long Rows => RowLength == 0 ? 0 : ElementCount / RowLength;

    public string ShapeText => $"[{string.Join(", ", Shape)}]";
}
