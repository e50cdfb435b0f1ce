using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Training;

/// <summary>Where TorchSharp runs: the device behind <c>--device cpu|cuda</c>, and what libtorch offers here.</summary>
public static class TorchRuntime
{
    /// <summary>Parses a <c>--device</c> value; "cuda" without a CUDA libtorch is a user error, not a native crash.</summary>
    public static Device ParseDevice(string name) => name.ToLowerInvariant() switch
    {
        "cpu" => CPU,
        "cuda" or "gpu" when cuda.is_available() => CUDA,
        "cuda" or "gpu" => throw new ArgumentException(
            "--device cuda: this libtorch has no CUDA (build with -p:LibTorch=cuda, or -p:LibTorch=system with a CUDA libtorch on LD_LIBRARY_PATH)"),
        var s when s.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(s[5..], out int i) && i >= 0 && i < cuda.device_count() => new Device(DeviceType.CUDA, i),
        _ => throw new ArgumentException($"--device '{name}': expected cpu, cuda or cuda:N (N < {(cuda.is_available() ? cuda.device_count() : 0)})"),
    };

    public static string Describe() =>
        cuda.is_available() ? $"libtorch with CUDA ({cuda.device_count()} device(s))" : "libtorch (CPU only)";
}
