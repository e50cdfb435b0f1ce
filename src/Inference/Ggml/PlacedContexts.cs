using LlamaAdapter.Core;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Model;

namespace LlamaAdapter.Inference.Ggml;

/// <summary>
/// Tensor metadata split by backend: each layer's tensors are declared in the context of the backend
/// <see cref="ModelPlacement"/> gives that layer, and <see cref="Allocate"/> then gives each non-empty context one
/// buffer on its backend. On a CPU-only placement this is one context and one CPU buffer, plus one context and buffer
/// per CPU extra buffer type (CPU_REPACK) that <see cref="ForCpuBufferType"/> was asked for.
/// </summary>
internal sealed class PlacedContexts : IDisposable
{
    private readonly ModelPlacement _placement;
    private readonly GgmlContext _cpu;
    private readonly GgmlContext? _gpu;
    private readonly List<GgmlBackendBuffer> _buffers = [];
    private readonly List<(IntPtr Type, GgmlContext Context)> _extra = [];
    private readonly int _capacity;

    public PlacedContexts(ModelPlacement placement, int tensors)
    {
        (_placement, _capacity) = (placement, tensors);
        _cpu = GgmlContext.CreateNoAlloc(tensors, withGraph: false);
        if (placement.IsOffloaded)
        {
            try { _gpu = GgmlContext.CreateNoAlloc(tensors, withGraph: false); }
            catch { _cpu.Dispose(); throw; }
        }
    }

    /// <summary>The context holding <paramref name="layer"/>'s tensors (<see cref="ModelPlacement.Output"/>, <see cref="ModelPlacement.Embeddings"/> or a block).</summary>
    public GgmlContext For(int layer) => _placement.OnGpu(layer) ? _gpu! : _cpu;

    public bool OnGpu(int layer) => _placement.OnGpu(layer);

    /// <summary>The context whose tensors go into a buffer of the CPU extra buffer type <paramref name="bufferType"/> (made on first use).</summary>
    public GgmlContext ForCpuBufferType(IntPtr bufferType)
    {
        foreach (var (t, c) in _extra)
            if (t == bufferType) return c;
        var ctx = GgmlContext.CreateNoAlloc(_capacity, withGraph: false);
        _extra.Add((bufferType, ctx));
        return ctx;
    }

    public IReadOnlyList<GgmlBackendBuffer> Buffers => _buffers;

    /// <summary>
    /// One buffer per non-empty context. The GPU's share is checked against the device's free memory first, since a
    /// failed device allocation can abort inside the backend; <paramref name="what"/> names the tensors in that error.
    /// </summary>
    /// <param name="weights">marks the buffers as weights, so that ggml's scheduler runs the ops reading them on their backend.</param>
    public void Allocate(string what, bool weights)
    {
        if (_gpu is not null && GgmlApi.ggml_get_first_tensor(_gpu.DangerousGetHandle()) != IntPtr.Zero)
        {
            IntPtr buft = GgmlApi.ggml_backend_get_default_buffer_type(_placement.Gpu!.DangerousGetHandle());
            long need = (long)GgmlApi.ggml_backend_alloc_ctx_tensors_from_buft_size(_gpu.DangerousGetHandle(), buft);
            long free = _placement.GpuFreeBytes();
            if (need > free)
                throw new BadInputException(
                    $"--gpu-layers {_placement.GpuLayers}: {what}: {Mib(need)} needed on {_placement.GpuName}, which has {Mib(free)} free: " +
                    "offload fewer layers (or use a smaller context)");
            _buffers.Add(GgmlBackendBuffer.AllocContextTensors(_gpu, _placement.Gpu!));
        }
        if (GgmlApi.ggml_get_first_tensor(_cpu.DangerousGetHandle()) != IntPtr.Zero)
            _buffers.Add(GgmlBackendBuffer.AllocContextTensors(_cpu, _placement.Cpu));
        foreach (var (type, ctx) in _extra)
            if (GgmlApi.ggml_get_first_tensor(ctx.DangerousGetHandle()) != IntPtr.Zero)
                _buffers.Add(GgmlBackendBuffer.AllocContextTensors(ctx, type));
        if (weights && _placement.IsOffloaded)
            foreach (var b in _buffers) GgmlApi.ggml_backend_buffer_set_usage(b.DangerousGetHandle(), WeightsUsage);
    }

    private const int WeightsUsage = 1;

    private static string Mib(long bytes) => $"{bytes / (1024.0 * 1024.0):F1} MiB";

    public void Dispose()
    {
        foreach (var b in _buffers) b.Dispose();
        foreach (var (_, ctx) in _extra) ctx.Dispose();
        _gpu?.Dispose();
        _cpu.Dispose();
    }
}
