using LlamaAdapter.Core.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Model;

/// <summary>SwiGLU: w2(silu(w1 x) · w3 x) (NL FeedForward :171-176). w1/w3 [ffn, dim], w2 [dim, ffn].</summary>
public sealed class FeedForward : nn.Module<Tensor, Tensor>
{
    private readonly FrozenLinear w1, w2, w3;

    public FeedForward(LlamaConfig c, WeightSource w, string prefix) : base(nameof(FeedForward))
    {
        w1 = new FrozenLinear(w.Take(prefix + "w1.weight", c.FfnDim, c.Dim));
        w2 = new FrozenLinear(w.Take(prefix + "w2.weight", c.Dim, c.FfnDim));
        w3 = new FrozenLinear(w.Take(prefix + "w3.weight", c.FfnDim, c.Dim));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return w2.forward(nn.functional.silu(w1.forward(x)) * w3.forward(x)).MoveToOuterDisposeScope();
    }
}
