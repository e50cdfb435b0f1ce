using System.Diagnostics;
using System.Runtime.InteropServices;
using TorchSharp;

namespace LlamaAdapter.Training.Bench;

/// <summary>
/// Memory a benchmark used. TorchSharp 0.107 exposes none of torch.cuda's memory statistics, so on CUDA this asks
/// NVML (libnvidia-ml, part of every NVIDIA driver) for the device's used memory — what nvidia-smi shows: the caching
/// allocator's reserved pool plus the CUDA context. The pool only grows during a run (nothing calls empty_cache), so
/// read after the last step it is the peak reserved. On the CPU: the process's peak resident set (VmHWM).
/// </summary>
public static partial class DeviceMemory
{
    /// <summary>Bytes and what they mean, or null bytes with the reason they could not be read.</summary>
    public static (long? Bytes, string What) Peak(torch.Device device)
    {
        if (device.type != DeviceType.CUDA)
        {
            using var p = Process.GetCurrentProcess();
            p.Refresh();
            return (p.PeakWorkingSet64, "process peak RSS");
        }
        try
        {
            if (nvmlInit_v2() != 0) return (null, "NVML did not initialise");
            try
            {
                int index = Math.Max(device.index, 0);
                if (nvmlDeviceGetHandleByIndex_v2((uint)index, out var handle) != 0) return (null, $"NVML has no device {index}");
                if (nvmlDeviceGetMemoryInfo(handle, out var info) != 0) return (null, "NVML memory query failed");
                return ((long)info.Used, $"GPU {index} used memory (NVML, whole device: allocator pool + CUDA context)");
            }
            finally { nvmlShutdown(); }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return (null, $"NVML not available ({e.GetType().Name})");
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct NvmlMemory { public ulong Total, Free, Used; }

    private const string Nvml = "libnvidia-ml.so.1";

    [LibraryImport(Nvml)] private static partial int nvmlInit_v2();
    [LibraryImport(Nvml)] private static partial int nvmlShutdown();
    [LibraryImport(Nvml)] private static partial int nvmlDeviceGetHandleByIndex_v2(uint index, out nint device);
    [LibraryImport(Nvml)] private static partial int nvmlDeviceGetMemoryInfo(nint device, out NvmlMemory memory);
}
