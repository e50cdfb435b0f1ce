using LlamaAdapter.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Loading;

/// <summary>
/// Loads a pretrained LLaMA into a <see cref="LlamaModel"/> from a GGUF file, an HF directory or a Meta directory,
/// whichever <paramref name="path"/> is. The rotary layout follows the weights (HF → HalfSplit, Meta/GGUF →
/// Interleaved), so no permutation is applied. Each weight goes from the mapped file into a tensor of the model
/// dtype one at a time (a 16-bit file into a 16-bit model is a single copy; quantized GGUF tensors are dequantized
/// in row chunks), so peak memory is the model plus one tensor.
/// </summary>
public static class PretrainedLlama
{
    public static LlamaModel Load(string path, ScalarType dtype = ScalarType.Float32, Device? device = null, CancellationToken cancellationToken = default)
    {
        using var checkpoint = LlamaCheckpoint.Open(path);
        return Load(checkpoint, dtype, device, cancellationToken);
    }

    public static LlamaModel Load(LlamaCheckpoint checkpoint, ScalarType dtype = ScalarType.Float32, Device? device = null, CancellationToken cancellationToken = default)
    {
        var options = new LlamaModelOptions(checkpoint.Layout, dtype, device);
        Tensor? previous = null;
        try
        {
            return new LlamaModel(checkpoint.Config, metaName =>
            {
                cancellationToken.ThrowIfCancellationRequested();
                // The model has taken the previous tensor (sharing its storage, or a device copy): our handle can go.
                previous?.Dispose();
                previous = null;
                if (!checkpoint.Tensors.TryGetValue(metaName, out var stored)) return null; // checked at open; the model names it
                return previous = Materialize(checkpoint, stored, dtype);
            }, options, checkpoint.Path);
        }
        finally
        {
            previous?.Dispose();
        }
    }

    private static unsafe Tensor Materialize(LlamaCheckpoint checkpoint, StoredTensor stored, ScalarType dtype)
    {
        Tensor? result = null;
        checkpoint.Read(stored, (data, length) => result = StoredTensorConverter.ToTorch(stored, data, length, dtype));
        return result!;
    }
}
