using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Model;

/// <summary>x / rms(x) · weight, normalised in float32 and cast back before the weight (Meta RMSNorm; HF LlamaRMSNorm).</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    private readonly double eps;
    private readonly Scalar epsScalar; // kept alive with the module (see TensorOps)

    public RmsNorm(Parameter weight, double eps) : base(nameof(RmsNorm))
    {
        this.weight = weight;
        this.eps = eps;
        epsScalar = eps.ToScalar();
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var xf = x.to(Precision.AtLeastFloat32(x.dtype));
        var normed = (xf * rsqrt(xf.Squared().mean([-1], keepdim: true).Plus(epsScalar))).to(x.dtype);
        return (normed * weight).MoveToOuterDisposeScope();
    }
}
