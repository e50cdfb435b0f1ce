using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Gguf;

namespace LlamaAdapter.Convert;

/// <summary>A LLaMA GGUF model, as input to re-quantization; its metadata is carried over.</summary>
public sealed class GgufCheckpointSource : ICheckpointSource
{
    private readonly GgufReader _reader;

    public string Path => _reader.Path;
    public LlamaConfig Config { get; }
    public IReadOnlyList<SourceTensor> Tensors { get; }
    public GgufMetadata? SourceMetadata => _reader.Metadata;

    private GgufCheckpointSource(GgufReader reader, LlamaConfig config, IReadOnlyList<SourceTensor> tensors)
    {
        _reader = reader;
        Config = config;
        Tensors = tensors;
    }

    public static GgufCheckpointSource Open(string path)
    {
        if (!File.Exists(path)) throw new BadInputException($"{path}: no such file; expected a LLaMA GGUF model");
        var reader = GgufReader.Open(path);
        try
        {
            if (reader.Metadata.TryGetValue("general.type", out var type) && type.Type == GgufValueType.String && type.AsString() != "model")
                throw new BadInputException($"{path}: metadata 'general.type' is \"{type.AsString()}\"; expected \"model\" (adapters are not re-quantized)");
            var config = LlamaConfig.FromGguf(reader.Metadata) with { TiedEmbeddings = !reader.TryGetTensor("output.weight", out _) };
            var found = reader.Tensors.Select(t =>
            {
                if (!TensorNames.TryParse(t.Name, TensorNaming.Gguf, out var id))
                    throw new BadInputException($"{path}: tensor '{t.Name}' is not a LLaMA tensor (expected GGUF names such as 'blk.0.attn_q.weight')");
                if (t.Shape.Count is < 1 or > 2)
                    throw new BadInputException($"{path}: tensor '{t.Name}' has {t.Shape.Count} dimensions; expected 1 or 2");
                return new SourceTensor(id, t.Name, t.Type, t.Shape.Reverse().ToArray());
            }).ToList();
            return new GgufCheckpointSource(reader, config, CheckpointTensors.Check(found, config, path, TensorNaming.Gguf));
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    public ReadOnlySpan<byte> Bytes(SourceTensor tensor) => _reader.Span(tensor.SourceName);

    public void Release(SourceTensor tensor) => _reader.Release(tensor.SourceName);

    public void Dispose() => _reader.Dispose();
}
