using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Formats.Meta;

namespace LlamaAdapter.Convert;

/// <summary>A Meta LLaMA directory: params.json and consolidated.NN.pth (model-parallel shards merged on read).</summary>
public sealed class MetaCheckpointSource : ICheckpointSource
{
    private readonly MetaCheckpoint _checkpoint;

    public string Path { get; }
    public LlamaConfig Config => _checkpoint.Config;
    public IReadOnlyList<SourceTensor> Tensors { get; }
    public GgufMetadata? SourceMetadata => null;

    private MetaCheckpointSource(string dir, MetaCheckpoint checkpoint, IReadOnlyList<SourceTensor> tensors)
    {
        Path = dir;
        _checkpoint = checkpoint;
        Tensors = tensors;
    }

    public static bool Recognizes(string dir) => File.Exists(System.IO.Path.Combine(dir, "params.json"));

    public static MetaCheckpointSource Open(string dir)
    {
        var ckpt = MetaCheckpoint.Open(dir);
        try
        {
            var found = ckpt.Tensors.Select(t =>
            {
                if (!TensorNames.TryParse(t.Name, TensorNaming.Meta, out var id))
                    throw new BadInputException($"{dir}: tensor '{t.Name}' is not a LLaMA tensor (expected Meta names such as 'layers.0.attention.wq.weight')");
                var dtype = id.Kind == LlamaTensor.RopeInverseFrequencies ? Core.Native.GgmlType.F32 : CheckpointTensors.FromSafetensors(t.DType, dir, t.Name);
                return new SourceTensor(id, t.Name, dtype, t.Shape);
            }).ToList();
            return new MetaCheckpointSource(dir, ckpt, CheckpointTensors.Check(found, ckpt.Config, dir, TensorNaming.Meta));
        }
        catch
        {
            ckpt.Dispose();
            throw;
        }
    }

    public ReadOnlySpan<byte> Bytes(SourceTensor tensor) => _checkpoint.GetBytes(tensor.SourceName);

    public void Release(SourceTensor tensor) => _checkpoint.Release(tensor.SourceName);

    public void Dispose() => _checkpoint.Dispose();
}
