namespace LlamaAdapter.Training.Model;

/// <summary>
/// Which coordinates of a head the rotary embedding rotates together. Both are the same rotation; the weights differ
/// by a per-head row permutation of wq/wk (HF's convert_llama_weights_to_hf.py <c>permute</c>).
/// </summary>
public enum RopeLayout
{
    /// <summary>Meta and GGUF weights: pairs (2i, 2i+1) as complex numbers (llama/model.py apply_rotary_emb).</summary>
    Interleaved,

    /// <summary>Hugging Face weights: pairs (i, i + d/2), <c>q·cos + rotate_half(q)·sin</c> (modeling_llama.py).</summary>
    HalfSplit,
}
