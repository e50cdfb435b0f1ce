using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Training.Model;

namespace LlamaAdapter.Training.Loading;

/// <summary>
/// A llama.cpp GGUF file: llama.* metadata, blk.N.* names, wq/wk in Meta's interleaved rotary layout (the converter
/// undoes HF's permutation), ne shapes reversed here to row-major. No output.weight means tied embeddings.
/// </summary>
public sealed class GgufCheckpoint : LlamaCheckpoint
{
    private readonly GgufReader _reader;
    private readonly Dictionary<string, GgufTensorInfo> _infos = new(StringComparer.Ordinal);

    protected override TensorNaming Naming => TensorNaming.Gguf;

    private GgufCheckpoint(GgufReader reader) : base(reader.Path, CheckpointFormat.Gguf, RopeLayout.Interleaved) => _reader = reader;

    public static new GgufCheckpoint Open(string path)
    {
        var reader = GgufReader.Open(path);
        try
        {
            var c = new GgufCheckpoint(reader);
            c.Build();
            return c;
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    private void Build()
    {
        var config = LlamaConfig.FromGguf(_reader.Metadata);
        bool hasOutput = false;
        GgufTensorInfo? ropeFactors = null;
        foreach (var t in _reader.Tensors)
        {
            if (!TensorNames.TryParse(t.Name, TensorNaming.Gguf, out var id))
                throw new BadInputException($"{Path}: tensor '{t.Name}' is not a LLaMA tensor (expected llama.cpp names such as 'blk.0.attn_q.weight')");
            if (id.Kind == LlamaTensor.RopeFactors) { ropeFactors = t; continue; }
            hasOutput |= id.Kind == LlamaTensor.Output;
            var shape = t.Shape.Reverse().ToArray(); // ne [in, out] → row-major [out, in]
            _infos[t.Name] = t;
            Add(id, new StoredTensor(t.Name, t.Type, shape, t.ByteSize));
        }
        if (ropeFactors is not null) config = config with { RopeScaling = Llama3ScalingOf(config, ropeFactors) };
        Seal(config with { TiedEmbeddings = !hasOutput });
    }

    // llama.cpp keeps Llama-3 scaling only as the per-frequency factors it divides by; the model computes them from
    // the four parameters, so recover those by matching the factors of the published configurations exactly.
    private RopeScaling Llama3ScalingOf(LlamaConfig config, GgufTensorInfo t)
    {
        if (t.Type != GgmlType.F32 || t.Shape.Count != 1 || t.Shape[0] != config.HeadDim / 2)
            throw new BadInputException($"{Path}: tensor 'rope_freqs.weight' is {t.Type} [{string.Join(", ", t.Shape)}]; expected F32 [{config.HeadDim / 2}]");
        var stored = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(_reader.Span(t)).ToArray();
        RopeScaling[] known =
        [
            new(RopeScalingType.Llama3, 8.0, 1.0, 4.0, 8192),   // Llama 3.1
            new(RopeScalingType.Llama3, 32.0, 1.0, 4.0, 8192),  // Llama 3.2
            new(RopeScalingType.Llama3, 16.0, 1.0, 4.0, 8192),
        ];
        foreach (var s in known)
        {
            var f = (config with { RopeScaling = s }).Llama3RopeFactors();
            if (f.Zip(stored).All(p => Math.Abs(p.First - p.Second) <= 1e-6f * Math.Abs(p.First))) return s;
        }
        throw new BadInputException($"{Path}: tensor 'rope_freqs.weight' holds rope factors [{string.Join(", ", stored.Take(4))}, …] that match no " +
                                    "Llama-3 scaling we know (factor 8, 16 or 32, low 1, high 4, original context 8192)");
    }

    protected override string ShapeInFileTerms(long[] rowMajor) => $"ne [{string.Join(", ", rowMajor.Reverse())}]";

    public override unsafe void Read(StoredTensor tensor, StoredBytesAction use)
    {
        var data = _reader.Data(_infos[tensor.FileName]);
        use((byte*)data.Pointer, data.Length);
    }

    public override void Dispose() => _reader.Dispose();
}
