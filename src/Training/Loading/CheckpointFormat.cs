using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats.Safetensors;

namespace LlamaAdapter.Training.Loading;

/// <summary>The three ways a LLaMA arrives: one GGUF file, an HF directory, or a Meta checkpoint directory.</summary>
public enum CheckpointFormat { Gguf, HuggingFace, Meta }

public static class CheckpointFormats
{
    /// <summary>
    /// Decides from what is on disk, not from names alone: a file must start with "GGUF"; a directory is HF when it
    /// has config.json and safetensors weights (one file or an index of shards), Meta when it has consolidated.00.pth
    /// and params.json.
    /// </summary>
    public static CheckpointFormat Detect(string path)
    {
        if (File.Exists(path))
        {
            Span<byte> magic = stackalloc byte[4];
            int n;
            using (var f = File.OpenRead(path)) n = f.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
            if (n == 4 && magic.SequenceEqual("GGUF"u8)) return CheckpointFormat.Gguf;
            throw new BadInputException(
                $"{path}: not a GGUF file (its first bytes are not \"GGUF\"); a LLaMA to load is a GGUF file, an HF directory " +
                "(config.json + model.safetensors or model.safetensors.index.json) or a Meta directory (consolidated.00.pth + params.json)");
        }
        if (!Directory.Exists(path)) throw new BadInputException($"{path}: no such file or directory");

        bool hasConfig = File.Exists(Path.Combine(path, "config.json"));
        bool hasSafetensors = File.Exists(Path.Combine(path, SafetensorsModel.IndexFileName))
                              || File.Exists(Path.Combine(path, SafetensorsModel.SingleFileName));
        bool hasPth = File.Exists(Path.Combine(path, "consolidated.00.pth"));
        bool hasParams = File.Exists(Path.Combine(path, "params.json"));
        if (hasSafetensors && hasConfig) return CheckpointFormat.HuggingFace;
        if (hasPth && hasParams) return CheckpointFormat.Meta;
        if (hasSafetensors) throw new BadInputException($"{path}: safetensors weights without config.json; an HF model directory needs both");
        if (hasPth) throw new BadInputException($"{path}: consolidated.00.pth without params.json; a Meta checkpoint directory needs both");
        throw new BadInputException(
            $"{path}: no model here (expected config.json + {SafetensorsModel.SingleFileName} or {SafetensorsModel.IndexFileName}, " +
            "or consolidated.00.pth + params.json)");
    }
}
