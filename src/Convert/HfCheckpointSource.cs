using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Formats.Safetensors;

namespace LlamaAdapter.Convert;

/// <summary>A transformers LLaMA directory: config.json plus model.safetensors or a sharded index.</summary>
public sealed class HfCheckpointSource : ICheckpointSource
{
    private readonly SafetensorsModel _model;

    public string Path { get; }
    public LlamaConfig Config { get; }
    public IReadOnlyList<SourceTensor> Tensors { get; }
    public GgufMetadata? SourceMetadata => null;

    private HfCheckpointSource(string dir, LlamaConfig config, SafetensorsModel model, IReadOnlyList<SourceTensor> tensors)
    {
        Path = dir;
        Config = config;
        _model = model;
        Tensors = tensors;
    }

    public static bool Recognizes(string dir) => File.Exists(System.IO.Path.Combine(dir, "config.json"));

    public static HfCheckpointSource Open(string dir)
    {
        string configPath = System.IO.Path.Combine(dir, "config.json");
        if (!File.Exists(configPath)) throw new BadInputException($"{dir}: config.json is missing; expected a transformers LLaMA directory");
        var config = LlamaConfig.FromHfConfig(configPath);
        var model = SafetensorsModel.Open(dir);
        try
        {
            var found = model.Tensors.Select(t =>
            {
                string file = model.ShardOf(t.Name).Path;
                if (!TensorNames.TryParse(t.Name, TensorNaming.HuggingFace, out var id))
                    throw new BadInputException($"{file}: tensor '{t.Name}' is not a LLaMA tensor (expected HF names such as 'model.layers.0.self_attn.q_proj.weight')");
                int heads = id.Kind switch { LlamaTensor.AttnQ => config.NHeads, LlamaTensor.AttnK => config.NKvHeads, _ => 0 };
                var dtype = id.Kind == LlamaTensor.RopeInverseFrequencies ? Core.Native.GgmlType.F32 : CheckpointTensors.FromSafetensors(t.DType, file, t.Name);
                return new SourceTensor(id, t.Name, dtype, t.Shape, heads);
            }).ToList();
            return new HfCheckpointSource(dir, config, model, CheckpointTensors.Check(found, config, dir, TensorNaming.HuggingFace));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    public ReadOnlySpan<byte> Bytes(SourceTensor tensor) => _model.GetBytes(tensor.SourceName);

    public void Release(SourceTensor tensor) => _model.Release(tensor.SourceName);

    public void Dispose() => _model.Dispose();
}
