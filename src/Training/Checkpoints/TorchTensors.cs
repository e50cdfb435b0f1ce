using LlamaAdapter.Core;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Checkpoints;

/// <summary>Between live torch tensors and the <see cref="StoredTensor"/>s of a checkpoint; the global generator's state.</summary>
public static class TorchTensors
{
    /// <summary>As F32 on the CPU; exact for F32, F16 and BF16 tensors (the dtypes trainable parameters may have).</summary>
    public static StoredTensor ToStored(string name, Tensor t)
    {
        if (t.dtype is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16))
            throw new ArgumentException($"{name}: {t.dtype} cannot be stored exactly as F32");
        using var c = t.detach().cpu().to_type(ScalarType.Float32).contiguous();
        return StoredTensor.Of(name, c.data<float>().ToArray(), c.shape);
    }

    /// <summary>Copies a stored tensor into a live one of the same shape (and its own dtype and device).</summary>
    public static void CopyInto(Tensor target, StoredTensor source, string file)
    {
        if (!target.shape.SequenceEqual(source.Shape))
            throw new BadInputException($"{file}: tensor '{source.Name}' has shape [{string.Join(", ", source.Shape)}]; the model's is [{string.Join(", ", target.shape)}]");
        using var _ = no_grad();
        using var s = tensor(source.AsFloats(), source.Shape);
        target.copy_(s);
    }

    public static byte[] GetRngState()
    {
        using var s = random.get_rng_state();
        return s.data<byte>().ToArray();
    }

    public static void SetRngState(byte[] state)
    {
        using var t = tensor(state);
        random.set_rng_state(t);
    }
}
