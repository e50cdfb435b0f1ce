namespace LlamaAdapter.Core.Formats.Gguf;

/// <summary>
/// A tensor's bytes inside a mapped GGUF file, not copied: valid only while the <see cref="GgufReader"/> that gave
/// it is open. <see cref="Pointer"/> and <see cref="Length"/> cover any size; <see cref="AsSpan"/> the ones under 2 GiB.
/// </summary>
public readonly unsafe struct GgufTensorData(GgufTensorInfo tensor, IntPtr pointer)
{
    public GgufTensorInfo Tensor { get; } = tensor;
    public IntPtr Pointer { get; } = pointer;
    public long Length => Tensor.ByteSize;

    /// <summary>The bytes as a span; a tensor of 2 GiB or more does not fit one (use <see cref="Pointer"/>).</summary>
    public ReadOnlySpan<byte> AsSpan() => Length <= int.MaxValue
        ? new ReadOnlySpan<byte>((void*)Pointer, (int)Length)
        : throw new InvalidOperationException(
            $"tensor '{Tensor.Name}' is {Length} bytes, more than a span can hold (2 GiB); read it through Pointer and Length");
}
