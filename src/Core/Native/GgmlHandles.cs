using System.Runtime.InteropServices;

namespace LlamaAdapter.Core.Native;

/// <summary>A ggml_context: tensor metadata (and data unless no_alloc); freed with ggml_free.</summary>
public sealed class GgmlContext : SafeHandle
{
    private GgmlContext() : base(IntPtr.Zero, ownsHandle: true) { }
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle() { GgmlApi.ggml_free(handle); return true; }

    /// <summary>A metadata-only context for <paramref name="tensors"/> tensors and, if asked, one graph.</summary>
    public static GgmlContext CreateNoAlloc(int tensors, bool withGraph)
    {
        nuint size = (nuint)tensors * GgmlApi.ggml_tensor_overhead() + (withGraph ? GgmlApi.ggml_graph_overhead() : 0);
        var p = new GgmlInitParams { MemSize = size, MemBuffer = IntPtr.Zero, NoAlloc = 1 };
        var ctx = new GgmlContext();
        ctx.SetHandle(GgmlApi.ggml_init(p));
        return ctx.IsInvalid ? throw new GgmlException($"ggml_init failed for a {size}-byte context") : ctx;
    }
}

/// <summary>An initialised ggml backend (CPU, CUDA, ...); freed with ggml_backend_free.</summary>
public sealed class GgmlBackend : SafeHandle
{
    private GgmlBackend() : base(IntPtr.Zero, ownsHandle: true) { }
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle() { GgmlApi.ggml_backend_free(handle); return true; }

    public string Name => Marshal.PtrToStringUTF8(GgmlApi.ggml_backend_name(handle)) ?? "";
    public string DeviceDescription =>
        Marshal.PtrToStringUTF8(GgmlApi.ggml_backend_dev_description(GgmlApi.ggml_backend_get_device(handle))) ?? "";

    /// <summary>The first device of <paramref name="type"/> that the loaded backends offer.</summary>
    public static GgmlBackend Init(GgmlDeviceType type)
    {
        GgmlLibrary.LoadBackends();
        var b = new GgmlBackend();
        b.SetHandle(GgmlBackendApi.ggml_backend_init_by_type(type, null));
        return b.IsInvalid ? throw new GgmlException($"no ggml {type} backend in {GgmlLibrary.Directory}") : b;
    }

    /// <summary>The backend of one registry device (ggml_backend_dev_get's handle), named <paramref name="name"/> in errors.</summary>
    internal static GgmlBackend InitDevice(IntPtr device, string name)
    {
        var b = new GgmlBackend();
        b.SetHandle(GgmlApi.ggml_backend_dev_init(device, null));
        return b.IsInvalid ? throw new GgmlException($"ggml could not start device {name}") : b;
    }
}

/// <summary>Memory a backend allocated for a context's tensors; freed with ggml_backend_buffer_free.</summary>
public sealed class GgmlBackendBuffer : SafeHandle
{
    private GgmlBackendBuffer() : base(IntPtr.Zero, ownsHandle: true) { }
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle() { GgmlApi.ggml_backend_buffer_free(handle); return true; }

    public static GgmlBackendBuffer AllocContextTensors(GgmlContext ctx, GgmlBackend backend)
    {
        var b = new GgmlBackendBuffer();
        b.SetHandle(GgmlApi.ggml_backend_alloc_ctx_tensors(ctx.DangerousGetHandle(), backend.DangerousGetHandle()));
        return b.IsInvalid ? throw new GgmlException($"backend {backend.Name} could not allocate the context's tensors") : b;
    }

    /// <summary>A buffer of <paramref name="bufferType"/> (such as the CPU's CPU_REPACK) for the context's tensors.</summary>
    internal static GgmlBackendBuffer AllocContextTensors(GgmlContext ctx, IntPtr bufferType)
    {
        var b = new GgmlBackendBuffer();
        b.SetHandle(GgmlApi.ggml_backend_alloc_ctx_tensors_from_buft(ctx.DangerousGetHandle(), bufferType));
        return b.IsInvalid
            ? throw new GgmlException($"buffer type {Marshal.PtrToStringUTF8(GgmlApi.ggml_backend_buft_name(bufferType))} could not allocate the context's tensors")
            : b;
    }
}
