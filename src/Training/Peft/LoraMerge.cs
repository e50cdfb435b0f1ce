using LlamaAdapter.Training.Model;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Peft;

/// <summary>
/// W' = W + (alpha/r)·B·A, the weight a LoRA projection acts as when dropout is off; for exporting a merged model
/// or checking the branch. Computed in float32 (float64 over a float64 base) on the CPU.
/// </summary>
public static class LoraMerge
{
    /// <summary>The merged weight [out, in] of one projection; W itself (copied) when it has no LoRA branch.</summary>
    public static Tensor Merged(FrozenLinear m)
    {
        using var scope = NewDisposeScope();
        var dtype = m.Weight.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        var w = m.Weight.detach().to(dtype, CPU);
        if (m.LoraA is { } a && m.LoraB is { } b)
            w = w + matmul(b.detach().to(dtype, CPU), a.detach().to(dtype, CPU)) * m.LoraScale;   // [out, r]·[r, in]
        return w.clone().MoveToOuterDisposeScope();
    }

    /// <summary>Meta name → merged weight for every projection that carries a LoRA branch (the ones a merged export must replace).</summary>
    public static Dictionary<string, Tensor> MergeLora(LlamaModel model)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (i, t, m) in model.TargetProjections(Projections.All))
            if (m.LoraA is not null) result[$"layers.{i}.{t.Path()}.weight"] = Merged(m);
        return result;
    }
}
