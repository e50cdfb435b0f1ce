using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Model;

/// <summary>
/// y = x·Wᵀ with a weight handed in by the loader. Not nn.Linear: that one allocates and initialises its own weight
/// first, which for a 7B model is gigabytes of float32 thrown away.
/// </summary>
public sealed class FrozenLinear : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight; // [out, in]

    public FrozenLinear(Parameter weight) : base(nameof(FrozenLinear))
    {
        this.weight = weight;
        RegisterComponents();
    }

    public Tensor Weight => weight;

    public override Tensor forward(Tensor x) => nn.functional.linear(x, weight);
}
