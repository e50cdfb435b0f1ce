using System.Runtime.InteropServices;

namespace LlamaAdapter.Core.Native;

/// <summary>ggml.h operators the reused decode graph needs: a cache write whose slot comes from an input tensor.</summary>
internal static unsafe partial class GgmlApi
{
    /// <summary>
    /// a[:, c[i]] = b[:, i]: a ne [n, rows] (any float type), b ne [n, k] F32, c ne [k] I64. Returns a view of a;
    /// the rows written are an input of the graph, so one graph serves every position.
    /// </summary>
    [LibraryImport(GgmlLibrary.Base)] public static partial IntPtr ggml_set_rows(IntPtr ctx, IntPtr a, IntPtr b, IntPtr c);
}
