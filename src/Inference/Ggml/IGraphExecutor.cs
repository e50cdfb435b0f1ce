using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Model;

namespace LlamaAdapter.Inference.Ggml;

/// <summary>Places a graph's intermediate tensors in a compute buffer it keeps across graphs, and runs the graph.</summary>
internal interface IGraphExecutor : IDisposable
{
    /// <summary>Sizes the compute buffer for the largest graph expected (see <see cref="GgmlGraphAllocator.Reserve"/>).</summary>
    void Reserve(IntPtr graph);
    /// <summary>Places <paramref name="graph"/>; its inputs are set after this and before <see cref="Compute"/>.</summary>
    void Allocate(IntPtr graph);
    /// <summary>Runs the graph last placed by <see cref="Allocate"/> (again, when only its inputs changed).</summary>
    void Compute(IntPtr graph);
    long BufferBytes { get; }
}

internal static class GraphExecutor
{
    /// <summary>The model's one backend with a graph allocator, or ggml's scheduler over [GPU, CPU] when layers are offloaded.</summary>
    public static IGraphExecutor For(GgmlLlamaModel model) =>
        model.Placement.IsOffloaded ? GgmlScheduler.Create(model.Placement) : new BackendGraphExecutor(model.Backend);
}

/// <summary>One backend: ggml_gallocr places the graph, ggml_backend_graph_compute runs it (the CPU-only path).</summary>
internal sealed class BackendGraphExecutor(GgmlBackend backend) : IGraphExecutor
{
    private readonly GgmlGraphAllocator _allocator = GgmlGraphAllocator.ForBackend(backend);

    public void Reserve(IntPtr graph) => _allocator.Reserve(graph);
    public void Allocate(IntPtr graph) => _allocator.Allocate(graph);
    public long BufferBytes => _allocator.BufferSize;

    public void Compute(IntPtr graph)
    {
        int status = GgmlApi.ggml_backend_graph_compute(backend.DangerousGetHandle(), graph);
        if (status != 0) throw new GgmlException($"ggml_backend_graph_compute failed with status {status}");
    }

    public void Dispose() => _allocator.Dispose();
}
