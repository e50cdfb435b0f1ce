using System.Runtime.InteropServices;

namespace LlamaAdapter.Core.Native;

/// <summary>libllama's KV memory and scheduling calls, for driving a context repeatedly (benchmarks).</summary>
internal static unsafe partial class LlamaApi
{
    [LibraryImport(GgmlLibrary.Llama)] public static partial IntPtr llama_get_memory(IntPtr ctx);
    /// <summary>Forgets every sequence; <paramref name="data"/> also zeroes the buffers.</summary>
    [LibraryImport(GgmlLibrary.Llama)] public static partial void llama_memory_clear(IntPtr memory, [MarshalAs(UnmanagedType.U1)] bool data);
    /// <summary>Waits until the last decode's computation has finished.</summary>
    [LibraryImport(GgmlLibrary.Llama)] public static partial void llama_synchronize(IntPtr ctx);
    [LibraryImport(GgmlLibrary.Llama)] public static partial int llama_n_threads(IntPtr ctx);
    [LibraryImport(GgmlLibrary.Llama)] public static partial int llama_n_threads_batch(IntPtr ctx);
}
