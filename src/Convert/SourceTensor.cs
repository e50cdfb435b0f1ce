using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Convert;

/// <summary>
/// A tensor of a checkpoint being converted: what it is, its name in the source, its stored element type, and its
/// row-major shape ([rows, row length] for matrices, [n] for vectors). <see cref="HfRotaryHeads"/> is set for HF
/// wq/wk, whose rows must be un-permuted (per head of that many heads) into Meta/GGUF order.
/// </summary>
public sealed record SourceTensor(LlamaTensorId Id, string SourceName, GgmlType DType, long[] Shape, int HfRotaryHeads = 0)
{
    public long Rows => Shape.Length == 1 ? 1 : Shape[0];
    public long RowLength => Shape[^1];
    /// <summary>The shape in ggml ne order (row length first).</summary>
    public long[] Ne => Shape.Reverse().ToArray();
}
