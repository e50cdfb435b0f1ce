using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats.Gguf;

namespace LlamaAdapter.Convert;

/// <summary>A LLaMA checkpoint opened for conversion: its config, tensors (checked against the config) and their bytes.</summary>
public interface ICheckpointSource : IDisposable
{
    /// <summary>The directory or file, for messages and general.name.</summary>
    string Path { get; }
    LlamaConfig Config { get; }
    /// <summary>In GGUF order: token_embd, the blocks, output_norm, output.</summary>
    IReadOnlyList<SourceTensor> Tensors { get; }
    /// <summary>A GGUF source's own metadata (copied to the output, as llama-quantize does), or null.</summary>
    GgufMetadata? SourceMetadata { get; }
    /// <summary>The tensor's stored bytes, row-major (a view valid until Dispose, or a merged copy).</summary>
    ReadOnlySpan<byte> Bytes(SourceTensor tensor);
    /// <summary>
    /// Called once a tensor has been converted: a mapped source lets its pages leave the resident set, so converting
    /// streams in about one tensor of memory however large the checkpoint.
    /// </summary>
    void Release(SourceTensor tensor) { }
}
