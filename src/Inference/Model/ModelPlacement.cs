using System.Runtime.InteropServices;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Inference.Model;

/// <summary>
/// Which backend holds each part of a model: blocks [FirstGpuLayer, n) and, when asked, the output on the GPU;
/// everything else (always the token embeddings) on the CPU. Layer indices: 0..n-1 the blocks,
/// <see cref="Output"/> the output norm and matrix, <see cref="Embeddings"/> the token embeddings.
/// </summary>
internal sealed class ModelPlacement : IDisposable
{
    public const int Output = -1;
    public const int Embeddings = -2;

    public GgmlBackend Cpu { get; }
    public GgmlBackend? Gpu { get; }
    /// <summary>The registry device behind <see cref="Gpu"/> (for its free memory).</summary>
    public IntPtr GpuDevice { get; }
    public string GpuName { get; } = "";
    public int FirstGpuLayer { get; }
    public bool OutputOnGpu { get; }
    public int GpuLayers { get; }

    public bool IsOffloaded => Gpu is not null;

    private ModelPlacement(GgmlBackend cpu, GgmlBackend? gpu, IntPtr device, string name, int nLayers, int gpuLayers)
    {
        (Cpu, Gpu, GpuDevice, GpuName, GpuLayers) = (cpu, gpu, device, name, gpuLayers);
        FirstGpuLayer = gpu is null ? nLayers : nLayers - Math.Min(gpuLayers, nLayers);
        OutputOnGpu = gpu is not null && gpuLayers > nLayers;
    }

    public static ModelPlacement CpuOnly(GgmlBackend cpu, int nLayers) => new(cpu, null, IntPtr.Zero, "", nLayers, 0);

    /// <summary>Takes ownership of <paramref name="cpu"/>; starts the GPU device <paramref name="offload"/> names (or the first GPU).</summary>
    public static ModelPlacement Create(GgmlBackend cpu, int nLayers, GpuOffload offload)
    {
        offload.Validate();
        if (offload.IsNone) return CpuOnly(cpu, nLayers);
        if (GgmlApi.ggml_backend_dev_type(GgmlApi.ggml_backend_get_device(cpu.DangerousGetHandle())) != GgmlDeviceType.Cpu)
            throw new ArgumentException($"offloading needs the CPU backend beside the GPU (ggml's scheduler runs graph inputs there); got {cpu.Name}", nameof(cpu));
        var (device, name) = FindGpu(offload);
        return new ModelPlacement(cpu, GgmlBackend.InitDevice(device, name), device, name, nLayers, offload.Layers);
    }

    public bool OnGpu(int layer) => Gpu is not null && (layer >= FirstGpuLayer || (layer == Output && OutputOnGpu));

    public GgmlBackend BackendFor(int layer) => OnGpu(layer) ? Gpu! : Cpu;

    /// <summary>The named device, else the first GPU (then integrated GPU) in ggml's registry; a clear error naming what was found otherwise.</summary>
    private static (IntPtr Device, string Name) FindGpu(GpuOffload offload)
    {
        GgmlLibrary.LoadBackends();
        var found = new List<(IntPtr Dev, string Name, string Description, GgmlDeviceType Type)>();
        for (nuint i = 0; i < GgmlBackendApi.ggml_backend_dev_count(); i++)
        {
            IntPtr dev = GgmlBackendApi.ggml_backend_dev_get(i);
            found.Add((dev, Marshal.PtrToStringUTF8(GgmlApi.ggml_backend_dev_name(dev)) ?? "",
                       Marshal.PtrToStringUTF8(GgmlApi.ggml_backend_dev_description(dev)) ?? "", GgmlApi.ggml_backend_dev_type(dev)));
        }
        string list = string.Join(", ", found.Select(d => $"{d.Name} ({d.Type}: {d.Description})"));
        if (offload.Device is { } want)
        {
            foreach (var d in found)
                if (string.Equals(d.Name, want, StringComparison.OrdinalIgnoreCase))
                    return d.Type is GgmlDeviceType.Cpu
                        ? throw new BadInputException($"--gpu {want}: that is the CPU device; name a GPU (devices found: {list})")
                        : (d.Dev, d.Name);
            throw new BadInputException($"--gpu {want}: ggml's registry has no such device (devices found: {list}; backends loaded from " +
                                        $"{GgmlLibrary.Directory}, set {GgmlLibrary.EnvironmentVariable} to a folder holding libggml-cuda.so or libggml-vulkan.so)");
        }
        foreach (var type in new[] { GgmlDeviceType.Gpu, GgmlDeviceType.IntegratedGpu })
            foreach (var d in found)
                if (d.Type == type) return (d.Dev, d.Name);
        throw new BadInputException($"--gpu-layers {offload.Layers}: ggml's registry has no GPU device (devices found: {list}); " +
                                    $"backends are loaded from {GgmlLibrary.Directory}: set {GgmlLibrary.EnvironmentVariable} to a folder holding " +
                                    "libggml-cuda.so (or libggml-vulkan.so) beside libggml-base.so, libggml*.so and libggml-cpu-*.so");
    }

    /// <summary>Bytes free on the GPU device now, as its backend reports them.</summary>
    public long GpuFreeBytes()
    {
        GgmlApi.ggml_backend_dev_memory(GpuDevice, out nuint free, out _);
        return (long)free;
    }

    public void Dispose()
    {
        Gpu?.Dispose();
        Cpu.Dispose();
    }
}
