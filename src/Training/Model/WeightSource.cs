using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Model;

/// <summary>
/// Hands out the frozen base weights by their Meta names (<c>tok_embeddings.weight</c>,
/// <c>layers.{i}.attention.wq.weight</c>, …), each checked against the shape the config implies, converted to the
/// model dtype/device only when it differs (a bf16 tensor for a bf16 model is used as is: no float32 copy), and
/// wrapped as a parameter with requires_grad=false.
/// </summary>
public sealed class WeightSource(Func<string, Tensor?> lookup, string origin, ScalarType dtype, Device device)
{
    public WeightSource(IReadOnlyDictionary<string, Tensor> tensors, string origin, ScalarType dtype, Device device)
        : this(name => tensors.TryGetValue(name, out var t) ? t : null, origin, dtype, device) { }

    public ScalarType DType => dtype;
    public Device Device => device;

    public Parameter Take(string name, params long[] expected)
    {
        Tensor? t;
        try { t = lookup(name); }
        catch (KeyNotFoundException e) { throw new BadInputException($"{origin}: tensor '{name}' is missing (expected shape [{string.Join(", ", expected)}])", e); }
        if (t is null)
            throw new BadInputException($"{origin}: tensor '{name}' is missing (expected shape [{string.Join(", ", expected)}])");
        if (!t.shape.SequenceEqual(expected))
            throw new BadInputException(
                $"{origin}: tensor '{name}' has shape [{string.Join(", ", t.shape)}], expected [{string.Join(", ", expected)}]");
        if (!t.is_floating_point())
            throw new BadInputException($"{origin}: tensor '{name}' has dtype {t.dtype}, expected a floating-point type");
        // to() hands back the same storage when dtype and device already match, so a 16-bit model stays 16-bit.
        return new Parameter(t.to(dtype, device).detach(), requires_grad: false);
    }

    /// <summary>The Meta names and shapes a config needs, in load order (for converters and error messages).</summary>
    public static IEnumerable<(string Name, long[] Shape)> ExpectedTensors(LlamaConfig c)
    {
        yield return ("tok_embeddings.weight", [c.VocabSize, c.Dim]);
        for (int i = 0; i < c.NLayers; i++)
        {
            string p = $"layers.{i}.";
            yield return (p + "attention_norm.weight", [c.Dim]);
            yield return (p + "attention.wq.weight", [c.Dim, c.Dim]);
            yield return (p + "attention.wk.weight", [c.KvDim, c.Dim]);
            yield return (p + "attention.wv.weight", [c.KvDim, c.Dim]);
            yield return (p + "attention.wo.weight", [c.Dim, c.Dim]);
            yield return (p + "ffn_norm.weight", [c.Dim]);
            yield return (p + "feed_forward.w1.weight", [c.FfnDim, c.Dim]);
            yield return (p + "feed_forward.w2.weight", [c.Dim, c.FfnDim]);
            yield return (p + "feed_forward.w3.weight", [c.FfnDim, c.Dim]);
        }
        yield return ("norm.weight", [c.Dim]);
        if (!c.TiedEmbeddings) yield return ("output.weight", [c.VocabSize, c.Dim]);
    }
}
