using LlamaAdapter.Core.Tokenizers;

namespace LlamaAdapter.Convert;

/// <summary>
/// How to convert: the output type, general.name (default: the source directory's name), the tokenizer (a loaded
/// model, else <see cref="TokenizerPath"/>, else tokenizer.model beside the checkpoint; a GGUF source keeps its own),
/// the rows converted per chunk (memory bound: about 6 bytes per element in flight), and a progress log.
/// </summary>
public sealed record ConvertOptions(
    OutputType Type,
    string? Name = null,
    string? TokenizerPath = null,
    SentencePieceModel? Tokenizer = null,
    long ChunkElements = 1 << 22,
    int MaxDegreeOfParallelism = -1,
    Action<string>? Log = null);
