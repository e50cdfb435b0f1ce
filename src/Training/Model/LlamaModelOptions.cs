using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Model;

/// <summary>
/// How to build a <see cref="LlamaModel"/>: the rotary layout of the weights (Meta/GGUF = Interleaved, HF =
/// HalfSplit), the compute dtype of the frozen base (float32, bfloat16, float16; float64 for gradient checks), and
/// the device (CPU by default; CUDA by choosing it).
/// </summary>
public sealed record LlamaModelOptions(
    RopeLayout Layout = RopeLayout.Interleaved,
    ScalarType DType = ScalarType.Float32,
    Device? Device = null)
{
    public Device TargetDevice => Device ?? CPU;

    /// <summary>Trainable adapter parameters are float32 over any 16/32-bit base (reference §1.7), float64 over float64.</summary>
    public ScalarType AdapterDType => DType == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
}
