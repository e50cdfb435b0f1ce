namespace LlamaAdapter.Inference.Model;

/// <summary>One block's ggml tensors (ne order: wq [dim, dim], wk/wv [dim, kvDim], w1/w3 [dim, ffn], w2 [ffn, dim]).</summary>
internal sealed record LlamaLayerWeights(
    IntPtr AttnNorm, IntPtr Wq, IntPtr Wk, IntPtr Wv, IntPtr Wo,
    IntPtr FfnNorm, IntPtr FfnGate, IntPtr FfnUp, IntPtr FfnDown);
