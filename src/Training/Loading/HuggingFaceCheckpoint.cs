using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Training.Model;

namespace LlamaAdapter.Training.Loading;

/// <summary>
/// A transformers LLaMA directory: config.json + model.safetensors (or sharded with an index). Its wq/wk rows are in
/// the half-split rotary layout (convert_llama_weights_to_hf permuted them), so the model runs rotate_half and the
/// weights are used as stored. With tie_word_embeddings the embeddings serve as the output (lm_head, if stored, is ignored).
/// </summary>
public sealed class HuggingFaceCheckpoint : LlamaCheckpoint
{
    private readonly SafetensorsModel _model;

    protected override TensorNaming Naming => TensorNaming.HuggingFace;

    private HuggingFaceCheckpoint(string dir, SafetensorsModel model) : base(dir, CheckpointFormat.HuggingFace, RopeLayout.HalfSplit) => _model = model;

    public static new HuggingFaceCheckpoint Open(string dir)
    {
        var config = LlamaConfig.FromHfConfig(System.IO.Path.Combine(dir, "config.json"));
        var model = SafetensorsModel.Open(dir);
        try
        {
            var c = new HuggingFaceCheckpoint(dir, model);
            foreach (var t in model.Tensors)
            {
                string file = model.ShardOf(t.Name).Path;
                if (!TensorNames.TryParse(t.Name, TensorNaming.HuggingFace, out var id))
                    throw new BadInputException($"{file}: tensor '{t.Name}' is not a LLaMA tensor (expected transformers names such as 'model.layers.0.self_attn.q_proj.weight')");
                if (id.Kind == LlamaTensor.RopeInverseFrequencies) continue; // a cache of rope_theta, not a weight
                if (id.Kind == LlamaTensor.Output && config.TiedEmbeddings) continue;
                c.Add(id, new StoredTensor(t.Name, FromSafetensors(file, t.Name, t.DType), t.Shape, t.ByteSize));
            }
            c.Seal(config);
            return c;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    public override unsafe void Read(StoredTensor tensor, StoredBytesAction use) =>
        use(_model.ShardOf(tensor.FileName).GetPointer(tensor.FileName), tensor.ByteSize);

    public override void Dispose() => _model.Dispose();
}
