using static TorchSharp.torch;

namespace LlamaAdapter.Training.Model;

/// <summary>The dtype the references upcast to for norms, rotary and softmax: float32, or float64 on a float64 model
/// (gradient checks need every step in float64, not a float32 round trip).</summary>
internal static class Precision
{
    public static ScalarType AtLeastFloat32(ScalarType t) => t == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
}
