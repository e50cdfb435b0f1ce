using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Meta;
using LlamaAdapter.Training.Model;

namespace LlamaAdapter.Training.Loading;

/// <summary>
/// Meta's release layout: params.json + consolidated.NN.pth (model-parallel shards merged by <see cref="MetaCheckpoint"/>),
/// Meta names, interleaved rotary layout. rope.freqs (a cache of rope_theta some checkpoints carry) is skipped.
/// </summary>
public sealed class MetaDirectoryCheckpoint : LlamaCheckpoint
{
    private readonly MetaCheckpoint _checkpoint;

    protected override TensorNaming Naming => TensorNaming.Meta;

    private MetaDirectoryCheckpoint(string dir, MetaCheckpoint checkpoint) : base(dir, CheckpointFormat.Meta, RopeLayout.Interleaved) => _checkpoint = checkpoint;

    public static new MetaDirectoryCheckpoint Open(string dir)
    {
        var m = MetaCheckpoint.Open(dir);
        try
        {
            var c = new MetaDirectoryCheckpoint(dir, m);
            string file = m.Shards[0].Path;
            foreach (var t in m.Tensors)
            {
                if (!TensorNames.TryParse(t.Name, TensorNaming.Meta, out var id))
                    throw new BadInputException($"{file}: tensor '{t.Name}' is not a LLaMA tensor (expected Meta names such as 'layers.0.attention.wq.weight')");
                if (id.Kind == LlamaTensor.RopeInverseFrequencies) continue;
                c.Add(id, new StoredTensor(t.Name, FromSafetensors(file, t.Name, t.DType), t.Shape, t.ByteSize));
            }
            c.Seal(m.Config);
            return c;
        }
        catch
        {
            m.Dispose();
            throw;
        }
    }

    public override unsafe void Read(StoredTensor tensor, StoredBytesAction use)
    {
        // A view of the mapping for a single stored shard; merged shards and deflated entries are one tensor's copy.
        fixed (byte* p = _checkpoint.GetBytes(tensor.FileName)) use(p, tensor.ByteSize);
    }

    public override void Dispose() => _checkpoint.Dispose();
}
