using System.Security.Cryptography;
using System.Text;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Checkpoints;

/// <summary>
/// Identifies the frozen base model an adapter was trained on, so a resume or a load onto another model is caught:
/// SHA-256 over every frozen parameter's name, dtype and shape and a strided sample of up to
/// <see cref="SamplesPerTensor"/> of its values (as F32). Reading all 13 GB of a 7B model for this is not worth it;
/// the sample differs for any real change of checkpoint (another model, another fine-tune, another quantisation).
/// </summary>
public static class BaseModelFingerprint
{
    public const int SamplesPerTensor = 1024;

    public static string Compute(nn.Module model)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, p) in model.named_parameters().Where(np => !np.parameter.requires_grad).OrderBy(np => np.name, StringComparer.Ordinal))
        {
            hash.AppendData(Encoding.UTF8.GetBytes($"{name}|{p.dtype}|{string.Join(",", p.shape)}\n"));
            long n = p.numel();
            if (n == 0) continue;
            long stride = Math.Max(1, n / SamplesPerTensor);
            using var _ = no_grad();
            using var flat = p.detach().reshape(-1);
            using var sample = flat.slice(0, 0, n, stride).cpu().to_type(ScalarType.Float32).contiguous();
            hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(sample.data<float>().ToArray().AsSpan()));
        }
        return "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
