using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Ggml;

namespace LlamaAdapter.Inference.Model;

/// <summary>
/// Keys and values of every block for up to <see cref="Size"/> positions, each block's on the backend that computes
/// the block (one CPU buffer unless layers are offloaded). K is kept
/// token-major, ne [kvDim, size]; V transposed, ne [size, kvDim], so attention reads both as plain matrix operands
/// without copying (as llama.cpp's non-flash path keeps them).
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly PlacedContexts _tensors;

    public int Size { get; }
    public GgmlType Type { get; }
    internal IntPtr[] Keys { get; }
    internal IntPtr[] Values { get; }

    internal KvCache(GgmlLlamaModel model, int size, GgmlType type)
    {
        if (type is not (GgmlType.F16 or GgmlType.F32))
            throw new ArgumentException($"KV cache type must be F16 or F32, got {type}", nameof(type));
        (Size, Type) = (size, type);
        int n = model.Config.NLayers;
        _tensors = new PlacedContexts(model.Placement, tensors: 2 * n);
        try
        {
            Keys = new IntPtr[n];
            Values = new IntPtr[n];
            for (int i = 0; i < n; i++)
            {
                IntPtr ctx = _tensors.For(i).DangerousGetHandle();
                Keys[i] = GgmlApi.ggml_new_tensor_2d(ctx, type, model.Config.KvDim, size);
                Values[i] = GgmlApi.ggml_new_tensor_2d(ctx, type, size, model.Config.KvDim);
            }
            _tensors.Allocate($"the KV cache of {size} positions for the offloaded layers", weights: false);
        }
        catch { _tensors.Dispose(); throw; }
        // Unwritten F16 slots may hold NaN bit patterns; masked probabilities are exactly 0, but 0·NaN is NaN.
        foreach (var b in _tensors.Buffers) GgmlApi.ggml_backend_buffer_clear(b.DangerousGetHandle(), 0);
    }

    public void Dispose()
    {
        _tensors.Dispose();
    }
}
