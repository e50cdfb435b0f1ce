using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Convert.Lora;

/// <summary>
/// A base checkpoint with a LoRA merged in: every adapted tensor reads as W' = W + (alpha/r)·B·A in F32, Meta/GGUF row
/// order (the base dequantized / un-permuted first, so any base format works); every other tensor is the base's own.
/// <see cref="ModelConverter"/> then writes it in the requested type, so the merged model is an ordinary GGUF.
/// </summary>
public sealed class LoraMergedSource : ICheckpointSource
{
    private readonly ICheckpointSource _inner;
    private readonly Dictionary<SourceTensor, (SourceTensor Original, LoraPair Pair)> _merged = new(ReferenceEqualityComparer.Instance);
    private readonly LoraWeights _lora;

    public LoraMergedSource(ICheckpointSource inner, LoraWeights lora, string what)
    {
        LoraConverter.CheckTargets(lora, inner, what);
        _inner = inner;
        _lora = lora;
        var byTarget = lora.Pairs.ToDictionary(p => p.Target);
        Tensors = inner.Tensors.Select(t =>
        {
            if (!byTarget.TryGetValue(t.Id, out var pair)) return t;
            var merged = t with { DType = GgmlType.F32, HfRotaryHeads = 0 };
            _merged[merged] = (t, pair);
            return merged;
        }).ToList();
    }

    public string Path => _inner.Path;
    public LlamaConfig Config => _inner.Config;
    public IReadOnlyList<SourceTensor> Tensors { get; }
    public GgufMetadata? SourceMetadata => _inner.SourceMetadata;

    public ReadOnlySpan<byte> Bytes(SourceTensor tensor)
    {
        if (!_merged.TryGetValue(tensor, out var m)) return _inner.Bytes(tensor);
        var w = ReadF32(_inner, m.Original);
        AddDelta(w, m.Pair, _lora.Scale(m.Pair));
        return System.Runtime.InteropServices.MemoryMarshal.AsBytes(w.AsSpan());
    }

    public void Release(SourceTensor tensor) => _inner.Release(_merged.TryGetValue(tensor, out var m) ? m.Original : tensor);

    /// <summary>w [out, in] += scale·B·A, a row at a time: row o gains Σ_k (scale·B[o, k])·A[k, :].</summary>
    public static void AddDelta(float[] w, LoraPair p, float scale)
    {
        long n = p.In;
        int r = p.Rank;
        Parallel.For(0L, p.Out, o =>
        {
            var row = w.AsSpan(checked((int)(o * n)), checked((int)n));
            for (int k = 0; k < r; k++)
            {
                float s = scale * p.B[o * r + k];
                var a = p.A.AsSpan(checked((int)(k * n)), checked((int)n));
                for (int i = 0; i < row.Length; i++) row[i] += s * a[i];
            }
        });
    }

    /// <summary>A base tensor as F32 in Meta/GGUF row order, whatever its stored type and layout.</summary>
    private static float[] ReadF32(ICheckpointSource source, SourceTensor t)
    {
        var f = new float[checked(t.Rows * t.RowLength)];
        using var ms = new MemoryStream(f.Length * 4);
        TensorConversion.Write(source.Bytes(t), t, GgmlType.F32, ms, new ConvertOptions(OutputType.F32), CancellationToken.None);
        Buffer.BlockCopy(ms.GetBuffer(), 0, f, 0, f.Length * 4);
        return f;
    }

    public void Dispose() => _inner.Dispose();
}
