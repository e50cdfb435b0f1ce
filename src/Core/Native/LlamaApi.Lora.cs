using System.Runtime.InteropServices;

namespace LlamaAdapter.Core.Native;

/// <summary>
/// libllama's LoRA adapter API (llama.h; symbols checked with nm -D on the pinned libllama.v0.5.0.so):
/// <c>llama_adapter_lora_init(model, path)</c> loads a LoRA GGUF against a loaded model (null on any error, which
/// libllama logs), <c>llama_set_adapters_lora(ctx, adapters, n, scales)</c> sets a context's whole adapter list
/// (this release's replacement for llama_set_adapter_lora; 0 on success), <c>llama_adapter_lora_free</c> frees one.
/// Free an adapter after the contexts that use it and before its model.
/// </summary>
internal static unsafe partial class LlamaApi
{
    [LibraryImport(GgmlLibrary.Llama, StringMarshalling = StringMarshalling.Utf8)]
    public static partial IntPtr llama_adapter_lora_init(IntPtr model, string pathLora);
    [LibraryImport(GgmlLibrary.Llama)] public static partial void llama_adapter_lora_free(IntPtr adapter);
    [LibraryImport(GgmlLibrary.Llama)] public static partial int llama_set_adapters_lora(IntPtr ctx, IntPtr* adapters, nuint nAdapters, float* scales);
}

/// <summary>A llama_adapter_lora*, freed with llama_adapter_lora_free.</summary>
internal sealed class LlamaLoraHandle() : SafeHandle(IntPtr.Zero, ownsHandle: true)
{
    public LlamaLoraHandle(IntPtr adapter) : this() => SetHandle(adapter);
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle() { LlamaApi.llama_adapter_lora_free(handle); return true; }
}
