using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Inference.Ggml;

/// <summary>
/// The CPU backend's thread count. ggml_backend_cpu_set_n_threads lives in whichever libggml-cpu-*.so variant the
/// registry loaded, so it is reached through the backend registry's proc address rather than a static import.
/// </summary>
internal static unsafe class GgmlThreads
{
    /// <summary>Sets the thread count when the backend offers "ggml_backend_set_n_threads"; false when it does not (e.g. a GPU).</summary>
    public static bool TrySet(GgmlBackend backend, int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        IntPtr b = backend.DangerousGetHandle();
        IntPtr reg = GgmlApi.ggml_backend_dev_backend_reg(GgmlApi.ggml_backend_get_device(b));
        if (reg == IntPtr.Zero) return false;
        IntPtr fn = GgmlApi.ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads");
        if (fn == IntPtr.Zero) return false;
        ((delegate* unmanaged[Cdecl]<IntPtr, int, void>)fn)(b, threads);
        return true;
    }
}
