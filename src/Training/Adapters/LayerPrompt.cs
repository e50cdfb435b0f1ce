using static TorchSharp.torch;

namespace LlamaAdapter.Training.Adapters;

/// <summary>
/// What one adapter layer's attention needs: the prompt P [L, dim] in the model dtype and, for gated kinds, the
/// already-activated gate [G] (G = n_heads, or 1 per layer) in the model dtype; Gate is null for the joint softmax.
/// </summary>
public readonly record struct LayerPrompt(Tensor Prompt, Tensor? Gate);
