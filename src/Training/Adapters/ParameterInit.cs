using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Adapters;

/// <summary>
/// In-place N(0,1) and U(±b) fills drawn from a seeded generator. Not nn.init.normal_/uniform_: in TorchSharp 0.107
/// those ignore the generator argument (two generators with one seed give different draws), while randn/rand honour
/// it. Draws happen on the generator's device (CPU) and are copied over.
/// </summary>
internal static class ParameterInit
{
    public static void Normal(Tensor t, Generator? generator)
    {
        using var _ = no_grad();
        using var draw = randn(t.shape, t.dtype, generator is null ? t.device : CPU, generator: generator);
        t.copy_(draw);
    }

    public static void Uniform(Tensor t, double bound, Generator? generator)
    {
        using var _ = no_grad();
        using var u = rand(t.shape, t.dtype, generator is null ? t.device : CPU, generator: generator);
        using var draw = u * (2 * bound) - bound;
        t.copy_(draw);
    }
}
