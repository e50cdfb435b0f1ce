using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Training;

/// <summary>Where TorchSharp runs: the device behind <c>--device cpu|cuda</c>, and what libtorch offers here.</summary>
public static class TorchRuntime
{
    private const string NoCuda = "this libtorch has no CUDA (build with -p:LibTorch=cuda, or -p:LibTorch=system with a CUDA libtorch on LD_LIBRARY_PATH)";

    /// <summary>Parses a <c>--device</c> value; "cuda" without a CUDA libtorch is a user error, not a native crash.</summary>
    public static Device ParseDevice(string name, string option = "--device") => name.ToLowerInvariant() switch
    {
        "cpu" => CPU,
        "cuda" or "gpu" when cuda.is_available() => CUDA,
        var s when (s is "cuda" or "gpu" || s.StartsWith("cuda:", StringComparison.Ordinal)) && !cuda.is_available() =>
            throw new ArgumentException($"{option} {name}: {NoCuda}"),
        var s when s.StartsWith("cuda:", StringComparison.Ordinal) && int.TryParse(s[5..], out int i) && i >= 0 && i < cuda.device_count() => new Device(DeviceType.CUDA, i),
        _ => throw new ArgumentException($"{option} '{name}': expected cpu, cuda or cuda:N (N < {(cuda.is_available() ? cuda.device_count() : 0)})"),
    };

    /// <summary>
    /// Parses a <c>--devices</c> list for data-parallel training (<c>cuda:0,cuda:1</c>): one kind of device, each CUDA
    /// device at most once (a second replica on the same GPU only costs its memory); <c>cpu,cpu</c> is allowed, so
    /// the data-parallel path runs where there is no GPU.
    /// </summary>
    public static IReadOnlyList<Device> ParseDevices(string list)
    {
        string[] names = list.Split(',', StringSplitOptions.TrimEntries);
        if (names.Any(n => n.Length == 0))
            throw new ArgumentException($"--devices '{list}': expected a comma-separated list of devices, such as cuda:0,cuda:1 (or cpu,cpu)");
        var devices = names.Select(n => ParseDevice(n, "--devices")).ToList();
        CheckDeviceList(devices, list);
        return devices;
    }

    /// <summary>The rules of <see cref="ParseDevices"/> on devices already parsed.</summary>
    public static void CheckDeviceList(IReadOnlyList<Device> devices, string list)
    {
        if (devices.Select(d => d.type).Distinct().Count() > 1)
            throw new ArgumentException($"--devices {list}: mixes device kinds; replicas share one dtype and a step waits for the slowest, so give only cuda devices or only cpu");
        var cudaIndices = devices.Where(d => d.type == DeviceType.CUDA).Select(d => Math.Max(d.index, 0)).ToList();   // "cuda" is cuda:0
        if (cudaIndices.Distinct().Count() != cudaIndices.Count)
            throw new ArgumentException($"--devices {list}: names a CUDA device twice; give each GPU once (only cpu may repeat, for testing)");
    }

    public static string Describe() =>
        cuda.is_available() ? $"libtorch with CUDA ({cuda.device_count()} device(s))" : "libtorch (CPU only)";
}
