using System.Runtime.InteropServices;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Inference.Ggml;

/// <summary>
/// The CPU backend's extra buffer types (CPU_REPACK on x86/ARM builds, AMX where present), in the order the backend
/// lists them, and llama.cpp's choice among them for a matmul weight (make_cpu_buft_list, weight_buft_supported):
/// the weight's op, MUL_MAT against an F32 [ne0, 512] batch, is put to the CPU device with the weight in a zero-sized
/// buffer of each type in turn; the first type the device accepts holds the weight. A repack buffer re-lays the rows
/// out on upload (q4_0 → q4_0_8x8 ...), so its tensors are only ever multiplied, never read back or gathered.
/// </summary>
internal sealed unsafe class CpuWeightBufferTypes
{
    private readonly IntPtr _device;
    private readonly IntPtr[] _types;

    private CpuWeightBufferTypes(IntPtr device, IntPtr[] types) => (_device, _types) = (device, types);

    /// <summary>None: every weight in the backend's default buffer.</summary>
    public static CpuWeightBufferTypes None { get; } = new(IntPtr.Zero, []);

    public IReadOnlyList<IntPtr> Types => _types;

    /// <summary>The extra buffer types the registry of <paramref name="cpu"/>'s device offers (none if it exports no such hook).</summary>
    public static CpuWeightBufferTypes Of(GgmlBackend cpu)
    {
        IntPtr device = GgmlApi.ggml_backend_get_device(cpu.DangerousGetHandle());
        if (device == IntPtr.Zero || GgmlApi.ggml_backend_dev_type(device) != GgmlDeviceType.Cpu) return None;
        IntPtr reg = GgmlApi.ggml_backend_dev_backend_reg(device);
        if (reg == IntPtr.Zero) return None;
        IntPtr fn = GgmlApi.ggml_backend_reg_get_proc_address(reg, GgmlApi.GetExtraBufferTypesProc);
        if (fn == IntPtr.Zero) return None;
        IntPtr* list = ((delegate* unmanaged[Cdecl]<IntPtr, IntPtr*>)fn)(device);
        var types = new List<IntPtr>();
        for (IntPtr* p = list; p != null && *p != IntPtr.Zero; p++) types.Add(*p);
        return new CpuWeightBufferTypes(device, [.. types]);
    }

    /// <summary>
    /// Whether libllama, loading with its default device list, would put a GPU's host buffer type ahead of the CPU's
    /// extra ones (make_cpu_buft_list: host buffer type of the first listed device that has one, then the extra
    /// types; llama_model_load lists the GPUs, or the integrated GPUs when there is no GPU, whatever n_gpu_layers is).
    /// The host type wins every weight, and with mmap it becomes the plain CPU buffer: no repack (llama-cli --no-host
    /// skips it).
    /// </summary>
    public static bool GpuHostBufferTypeFirst()
    {
        GgmlLibrary.LoadBackends();
        var gpus = new List<IntPtr>();
        var igpus = new List<IntPtr>();
        for (nuint i = 0; i < GgmlBackendApi.ggml_backend_dev_count(); i++)
        {
            IntPtr dev = GgmlBackendApi.ggml_backend_dev_get(i);
            var type = GgmlApi.ggml_backend_dev_type(dev);
            if (type == GgmlDeviceType.Gpu) gpus.Add(dev);
            else if (type == GgmlDeviceType.IntegratedGpu) igpus.Add(dev);
        }
        return (gpus.Count > 0 ? gpus : igpus).Any(d => GgmlApi.ggml_backend_dev_host_buffer_type(d) != IntPtr.Zero);
    }

    public static string Name(IntPtr bufferType) => Marshal.PtrToStringUTF8(GgmlApi.ggml_backend_buft_name(bufferType)) ?? "";

    /// <summary>
    /// The first extra buffer type that can hold a <paramref name="type"/> weight of ne [<paramref name="ne0"/>,
    /// <paramref name="ne1"/>] multiplied by an F32 batch, or zero for the default buffer.
    /// </summary>
    public IntPtr ForMatMul(GgmlType type, long ne0, long ne1)
    {
        if (_types.Length == 0) return IntPtr.Zero;
        using var ctx = GgmlContext.CreateNoAlloc(tensors: 4, withGraph: false);
        IntPtr c = ctx.DangerousGetHandle();
        IntPtr w = GgmlApi.ggml_new_tensor_2d(c, type, ne0, ne1);
        IntPtr b = GgmlApi.ggml_new_tensor_4d(c, GgmlType.F32, ne0, 512, 1, 1);
        IntPtr op = GgmlApi.ggml_mul_mat(c, w, b);
        if (w == IntPtr.Zero || b == IntPtr.Zero || op == IntPtr.Zero) throw new GgmlException("ggml could not build the matmul probe");
        foreach (IntPtr buft in _types)
        {
            IntPtr dummy = GgmlApi.ggml_backend_buft_alloc_buffer(buft, 0);
            if (dummy == IntPtr.Zero) continue;
            bool ok;
            GgmlApi.SetTensorBuffer(w, dummy);
            try { ok = GgmlApi.ggml_backend_dev_supports_op(_device, op); }
            finally
            {
                GgmlApi.SetTensorBuffer(w, IntPtr.Zero);
                GgmlApi.ggml_backend_buffer_free(dummy);
            }
            if (ok) return buft;
        }
        return IntPtr.Zero;
    }
}
