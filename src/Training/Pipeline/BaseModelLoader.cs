using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Meta;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Training.Model;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Pipeline;

/// <summary>
/// The frozen base model for training, from a folder: Hugging Face (config.json + model.safetensors or a sharded
/// index; HF rotary layout, used as is) or Meta (params.json + consolidated.NN.pth; interleaved layout). Tensors are
/// read one at a time and converted to the model dtype as they are taken, so the peak is the model plus one tensor.
/// GGUF files are for inference: their weights are usually quantised, and training needs 16/32-bit floats.
/// </summary>
public static class BaseModelLoader
{
    public static LlamaModel Load(string path, ScalarType dtype, Device device)
    {
        if (File.Exists(path) && path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase))
            throw new BadInputException($"{path}: training needs a Hugging Face (config.json + *.safetensors) or Meta (params.json + consolidated.*.pth) folder, not GGUF");
        if (!Directory.Exists(path))
            throw new BadInputException($"{path}: not found; expected a Hugging Face (config.json + *.safetensors) or Meta (params.json + consolidated.*.pth) model folder");

        string hfConfig = Path.Combine(path, "config.json");
        if (File.Exists(hfConfig))
        {
            var config = LlamaConfig.FromHfConfig(hfConfig);
            using var st = SafetensorsModel.Open(path);
            var options = new LlamaModelOptions(RopeLayout.HalfSplit, dtype, device);
            return new LlamaModel(config, meta =>
            {
                string hf = TensorNames.Convert(meta, TensorNaming.Meta, TensorNaming.HuggingFace);
                if (!st.Contains(hf)) return null;
                var info = st[hf];
                return Placed(FromBytes(st.GetBytes(hf), info.DType, info.Shape, $"{path}: tensor '{hf}'"), dtype, device);
            }, options, path);
        }
        if (File.Exists(Path.Combine(path, "params.json")))
        {
            using var mc = MetaCheckpoint.Open(path);
            var options = new LlamaModelOptions(RopeLayout.Interleaved, dtype, device);
            return new LlamaModel(mc.Config, name =>
            {
                if (!mc.Contains(name)) return null;
                var info = mc[name];
                return Placed(FromBytes(mc.GetBytes(name), info.DType, info.Shape, $"{path}: tensor '{name}'"), dtype, device);
            }, options, path);
        }
        throw new BadInputException($"{path}: holds neither config.json (Hugging Face) nor params.json (Meta)");
    }

    /// <summary>
    /// Converts here and frees the CPU copy at once, so the model's own conversion is a no-op and a 7B load does not
    /// leave gigabytes of CPU tensors for the finalizer.
    /// </summary>
    private static Tensor Placed(Tensor cpu, ScalarType dtype, Device device)
    {
        if (cpu.dtype == dtype && cpu.device.type == device.type && cpu.device.index == device.index) return cpu;
        var placed = cpu.to(dtype, device);
        cpu.Dispose();
        return placed;
    }

    /// <summary>A CPU tensor holding a copy of row-major little-endian bytes of a 16/32-bit float dtype.</summary>
    public static Tensor FromBytes(ReadOnlySpan<byte> bytes, SafetensorsDType dtype, long[] shape, string what)
    {
        var type = dtype switch
        {
            SafetensorsDType.F32 => ScalarType.Float32,
            SafetensorsDType.F16 => ScalarType.Float16,
            SafetensorsDType.BF16 => ScalarType.BFloat16,
            _ => throw new BadInputException($"{what}: dtype {dtype}; expected F32, F16 or BF16"),
        };
        var t = empty(shape, type);
        if (t.NumberOfElements * t.ElementSize != bytes.Length)
            throw new BadInputException($"{what}: {bytes.Length} bytes for shape [{string.Join(", ", shape)}] of {dtype}");
        bytes.CopyTo(t.bytes);
        return t;
    }
}
