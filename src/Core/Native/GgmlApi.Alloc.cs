using System.Runtime.InteropServices;

namespace LlamaAdapter.Core.Native;

/// <summary>ggml-alloc.h calls beyond allocating one graph: planning a compute buffer ahead for the largest graph.</summary>
internal static unsafe partial class GgmlApi
{
    /// <summary>Plans (and allocates) the compute buffer for <paramref name="graph"/> without assigning its tensors; false when out of memory.</summary>
    [LibraryImport(GgmlLibrary.Base)]
    [return: MarshalAs(UnmanagedType.U1)]
    public static partial bool ggml_gallocr_reserve(IntPtr galloc, IntPtr graph);
    [LibraryImport(GgmlLibrary.Base)] public static partial nuint ggml_gallocr_get_buffer_size(IntPtr galloc, int bufferId);
}
