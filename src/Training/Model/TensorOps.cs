using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Model;

/// <summary>
/// Tensor arithmetic with Scalars that outlive the native call. TorchSharp 0.107's <c>a + b</c> is
/// <c>add(b, 1)</c>: the implicit Scalar (alpha = 1) is finalizable and nothing keeps it alive once its handle is
/// read, so a garbage collection during the native add can free it mid-call (seen in the demo, about one run in
/// seven: "Exception raised from toFloat at c10/core/Scalar.h"). The hot paths of every forward and backward go
/// through these instead; their Scalars are static, or owned by the module that uses them.
/// </summary>
public static class TensorOps
{
    // Never disposed: they live as long as the process (the TorchSharp Scalar has no dispose-scope registration).
    private static readonly Scalar One = 1.ToScalar(), MinusOne = (-1).ToScalar();

    /// <summary>a + b.</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary>a − b.</summary>
    public static Tensor Minus(this Tensor a, Tensor b) => a.add(b, MinusOne);

    /// <summary>a += b in place.</summary>
    public static Tensor PlusInPlace(this Tensor a, Tensor b) => a.add_(b, One);

    /// <summary>a², as a·a: TorchSharp's <c>square()</c> is <c>pow(2)</c> with an implicit Scalar (seen freed mid-call: "toDouble at c10/core/Scalar.h").</summary>
    public static Tensor Squared(this Tensor a) => a.mul(a);

    /// <summary>a + s, for a Scalar the caller keeps alive.</summary>
    public static Tensor Plus(this Tensor a, Scalar s) => a.add(s, One);
}
