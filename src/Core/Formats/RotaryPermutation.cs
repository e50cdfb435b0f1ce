namespace LlamaAdapter.Core.Formats;

/// <summary>
/// The row permutation between Meta's rotary layout and HF's. Meta (and GGUF, which llama.cpp keeps in Meta's
/// layout) rotates adjacent pairs (x[2i], x[2i+1]) of each head; HF's rotate_half rotates (x[i], x[i + d/2]).
/// HF's convert_llama_weights_to_hf therefore permutes the rows of wq (per query head) and wk (per KV head):
///   view(n_heads, d/2, 2, cols).transpose(1, 2)   ⇒   hf[h, j·d/2 + i] = meta[h, 2i + j],   j ∈ {0, 1},
/// and llama.cpp's convert_hf_to_gguf undoes it with reshape(n_heads, 2, d/2, …).swapaxes(1, 2).
/// Rows are moved whole, so this works on raw row-major bytes of any element type (and on 1-D biases).
/// </summary>
public static class RotaryPermutation
{
    /// <summary>Meta/GGUF layout → HF layout. <paramref name="nHeads"/> is n_heads for wq, n_kv_heads for wk.</summary>
    public static void MetaToHf(ReadOnlySpan<byte> src, Span<byte> dst, int rows, int nHeads) => Permute(src, dst, rows, nHeads, toHf: true);

    /// <summary>HF layout → Meta/GGUF layout (llama.cpp's permute).</summary>
    public static void HfToMeta(ReadOnlySpan<byte> src, Span<byte> dst, int rows, int nHeads) => Permute(src, dst, rows, nHeads, toHf: false);

    public static byte[] MetaToHf(ReadOnlySpan<byte> src, int rows, int nHeads)
    {
        var dst = new byte[src.Length];
        MetaToHf(src, dst, rows, nHeads);
        return dst;
    }

    public static byte[] HfToMeta(ReadOnlySpan<byte> src, int rows, int nHeads)
    {
        var dst = new byte[src.Length];
        HfToMeta(src, dst, rows, nHeads);
        return dst;
    }

    private static void Permute(ReadOnlySpan<byte> src, Span<byte> dst, int rows, int nHeads, bool toHf)
    {
        if (rows <= 0 || nHeads <= 0 || rows % nHeads != 0 || rows / nHeads % 2 != 0)
            throw new ArgumentException($"rotary permutation needs rows ({rows}) = n_heads ({nHeads}) × an even head dimension");
        if (src.Length % rows != 0) throw new ArgumentException($"{src.Length} bytes are not {rows} equal rows");
        if (dst.Length != src.Length) throw new ArgumentException($"destination holds {dst.Length} bytes; expected {src.Length}");
        if (src.Overlaps(dst)) throw new ArgumentException("source and destination overlap; the permutation is not in place");
        int rowBytes = src.Length / rows;
        int headDim = rows / nHeads, half = headDim / 2;
        for (int h = 0; h < nHeads; h++)
            for (int i = 0; i < half; i++)
                for (int j = 0; j < 2; j++)
                {
                    int meta = h * headDim + 2 * i + j;   // interleaved pair i, member j
                    int hf = h * headDim + j * half + i;  // half j, position i
                    int from = toHf ? meta : hf, to = toHf ? hf : meta;
                    src.Slice(from * rowBytes, rowBytes).CopyTo(dst.Slice(to * rowBytes, rowBytes));
                }
    }
}
