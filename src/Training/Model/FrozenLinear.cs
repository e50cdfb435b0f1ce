using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Model;

/// <summary>
/// y = x·Wᵀ with a weight handed in by the loader. Not nn.Linear: that one allocates and initialises its own weight
/// first, which for a 7B model is gigabytes of float32 thrown away.
/// Optionally trainable extras (parameter-efficient methods; the frozen W never changes):
/// a LoRA branch y += (alpha/r)·B·A·dropout(x) with <c>lora_a</c> [r, in], <c>lora_b</c> [out, r] (PEFT
/// tuners/lora/layer.py Linear.forward), and a BitFit bias y += b with <c>bias</c> [out]. Both are computed in their
/// own dtype (float32 over a 16-bit base, as PEFT casts the input to lora_A's dtype) and cast back to the base dtype.
/// </summary>
public sealed class FrozenLinear : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight; // [out, in]
    private Parameter? lora_a;         // [r, in]
    private Parameter? lora_b;         // [out, r]
    private Parameter? bias;           // [out]
    private double loraScale, loraDropout;
    private Scalar? loraScaleScalar; // kept alive with the module (see TensorOps)

    public FrozenLinear(Parameter weight) : base(nameof(FrozenLinear))
    {
        this.weight = weight;
        RegisterComponents();
    }

    public Tensor Weight => weight;
    public long InFeatures => weight.shape[1];
    public long OutFeatures => weight.shape[0];
    public Parameter? LoraA => lora_a;
    public Parameter? LoraB => lora_b;
    public Parameter? Bias => bias;

    /// <summary>alpha / r, the factor on B·A.</summary>
    public double LoraScale => loraScale;

    /// <summary>Adds the LoRA branch with the given trainable A [r, in] and B [out, r].</summary>
    public void AttachLora(Parameter a, Parameter b, double scale, double dropout)
    {
        if (lora_a is not null) throw new InvalidOperationException("LoRA is already attached to this projection");
        if (a.dim() != 2 || b.dim() != 2 || a.shape[1] != InFeatures || b.shape[0] != OutFeatures || a.shape[0] != b.shape[1])
            throw new ArgumentException($"LoRA A [{string.Join(", ", a.shape)}] and B [{string.Join(", ", b.shape)}] do not fit W [{OutFeatures}, {InFeatures}]: expected [r, {InFeatures}] and [{OutFeatures}, r]");
        if (dropout is < 0 or >= 1) throw new ArgumentException($"LoRA dropout {dropout}: expected 0 <= p < 1");
        (lora_a, lora_b, loraScale, loraDropout) = (a, b, scale, dropout);
        loraScaleScalar = scale.ToScalar();
        register_parameter(nameof(lora_a), a);
        register_parameter(nameof(lora_b), b);
    }

    /// <summary>Adds the trainable bias b [out].</summary>
    public void AttachBias(Parameter b)
    {
        if (bias is not null) throw new InvalidOperationException("a bias is already attached to this projection");
        if (b.dim() != 1 || b.shape[0] != OutFeatures)
            throw new ArgumentException($"bias [{string.Join(", ", b.shape)}]: expected [{OutFeatures}]");
        bias = b;
        register_parameter(nameof(bias), b);
    }

    public override Tensor forward(Tensor x)
    {
        var y = nn.functional.linear(x, weight);                                        // [..., out]
        if (lora_a is null && bias is null) return y;
        using var scope = NewDisposeScope();
        if (lora_a is not null)
        {
            // Dropout only while training (Trainer switches to eval for validation), drawn from torch's global RNG,
            // whose state every checkpoint carries, so a resumed run draws the same masks.
            var xa = x.to(lora_a.dtype);
            if (loraDropout > 0) xa = nn.functional.dropout(xa, loraDropout, training);
            var delta = nn.functional.linear(nn.functional.linear(xa, lora_a), lora_b!).mul(loraScaleScalar!); // [..., r] → [..., out]
            y = y.Plus(delta.to(y.dtype));
        }
        if (bias is not null) y = y.Plus(bias.to(y.dtype));
        return y.MoveToOuterDisposeScope();
    }
}
