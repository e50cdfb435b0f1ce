using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Inference.Ggml;

/// <summary>A metadata-only ggml context holding one graph of up to <see cref="MaxNodes"/> nodes and its tensors.</summary>
internal static class GraphContext
{
    public const int MaxNodes = 16384;

    /// <summary>Creates the context and its graph. The context must outlive every use of the graph.</summary>
    public static (GgmlContext Context, IntPtr Graph) Create()
    {
        // CreateNoAlloc sizes in tensor overheads; the custom graph's own overhead is converted to that unit.
        nuint graphBytes = GgmlApi.ggml_graph_overhead_custom(MaxNodes, false);
        int graphTensors = (int)(graphBytes / GgmlApi.ggml_tensor_overhead()) + 1;
        var ctx = GgmlContext.CreateNoAlloc(MaxNodes + graphTensors, withGraph: false);
        IntPtr graph = GgmlApi.ggml_new_graph_custom(ctx.DangerousGetHandle(), MaxNodes, false);
        if (graph == IntPtr.Zero) { ctx.Dispose(); throw new GgmlException("ggml_new_graph_custom failed"); }
        return (ctx, graph);
    }
}
