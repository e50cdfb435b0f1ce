using System.Runtime.InteropServices;

namespace LlamaAdapter.Core.Native;

/// <summary>ggml.h operators the runtime LoRA branch needs beyond the LLaMA graph's (y += scale·B·(A·x)).</summary>
internal static partial class GgmlApi
{
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_scale(IntPtr ctx, IntPtr a, float s);
}
