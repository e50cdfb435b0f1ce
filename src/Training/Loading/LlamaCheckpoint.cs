using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Training.Model;

namespace LlamaAdapter.Training.Loading;

/// <summary>Called with a stored tensor's bytes; the pointer is valid only during the call.</summary>
public unsafe delegate void StoredBytesAction(byte* data, long length);

/// <summary>
/// An opened checkpoint seen through Meta's names: its configuration, the rotary layout its wq/wk rows are in, and
/// every weight as stored (no tensor data read yet). Opening checks names and shapes against the configuration, so
/// a bad file is refused before anything large is allocated; messages use the file's own tensor names.
/// </summary>
public abstract class LlamaCheckpoint : IDisposable
{
    private readonly Dictionary<string, StoredTensor> _byMetaName = new(StringComparer.Ordinal);

    public string Path { get; }
    public CheckpointFormat Format { get; }
    public RopeLayout Layout { get; }
    public LlamaConfig Config { get; private set; } = null!;
    /// <summary>Weights by Meta name (<c>layers.0.attention.wq.weight</c>), in the file's order.</summary>
    public IReadOnlyDictionary<string, StoredTensor> Tensors => _byMetaName;
    protected abstract TensorNaming Naming { get; }

    protected LlamaCheckpoint(string path, CheckpointFormat format, RopeLayout layout)
    {
        Path = path;
        Format = format;
        Layout = layout;
    }

    /// <summary>Opens <paramref name="path"/> in whichever format <see cref="CheckpointFormats.Detect"/> finds.</summary>
    public static LlamaCheckpoint Open(string path) => CheckpointFormats.Detect(path) switch
    {
        CheckpointFormat.Gguf => GgufCheckpoint.Open(path),
        CheckpointFormat.HuggingFace => HuggingFaceCheckpoint.Open(path),
        _ => MetaDirectoryCheckpoint.Open(path),
    };

    /// <summary>Hands the stored bytes of <paramref name="tensor"/> to <paramref name="use"/>.</summary>
    public abstract void Read(StoredTensor tensor, StoredBytesAction use);

    public abstract void Dispose();

    /// <summary>Records a weight under its Meta name; called by the format while opening.</summary>
    protected void Add(LlamaTensorId id, StoredTensor tensor)
    {
        string meta = TensorNames.Format(id, TensorNaming.Meta);
        if (!_byMetaName.TryAdd(meta, tensor))
            throw new BadInputException($"{Path}: tensor '{tensor.FileName}' appears twice");
    }

    /// <summary>Sets the configuration and checks every expected weight is present with the shape it implies.</summary>
    protected void Seal(LlamaConfig config)
    {
        Config = config;
        var expected = WeightSource.ExpectedTensors(config).ToDictionary(e => e.Name, e => e.Shape, StringComparer.Ordinal);
        foreach (var (meta, t) in _byMetaName)
        {
            if (expected.ContainsKey(meta)) continue;
            var id = TensorNames.Parse(meta, TensorNaming.Meta);
            throw new BadInputException(id.IsPerLayer && id.Layer >= config.NLayers
                ? $"{Path}: tensor '{t.FileName}' belongs to layer {id.Layer}, but the configuration has {config.NLayers} layers (0..{config.NLayers - 1})"
                : $"{Path}: tensor '{t.FileName}' is not used by a {(config.TiedEmbeddings ? "tied-embedding " : "")}LLaMA of this configuration");
        }
        foreach (var (meta, shape) in expected)
        {
            string fileName = TensorNames.Convert(meta, TensorNaming.Meta, Naming);
            if (!_byMetaName.TryGetValue(meta, out var t))
                throw new BadInputException($"{Path}: tensor '{fileName}' is missing (expected {ShapeInFileTerms(shape)})");
            if (!t.Shape.SequenceEqual(shape))
                throw new BadInputException($"{Path}: tensor '{fileName}' has shape {ShapeInFileTerms(t.Shape)}, expected {ShapeInFileTerms(shape)} " +
                                            $"(dim {config.Dim}, kv_dim {config.KvDim}, ffn {config.FfnDim}, vocab {config.VocabSize})");
            if (!IsLoadable(t.Type))
                throw new BadInputException($"{Path}: tensor '{fileName}' has element type {t.Type}; expected a floating-point or ggml quantized type");
        }
    }

    /// <summary>A row-major shape as the file writes it (GGUF lists ggml's ne order, fastest dimension first).</summary>
    protected virtual string ShapeInFileTerms(long[] rowMajor) => $"[{string.Join(", ", rowMajor)}]";

    private static bool IsLoadable(GgmlType t) => t is not (GgmlType.I8 or GgmlType.I16 or GgmlType.I32 or GgmlType.I64);

    /// <summary>safetensors / torch element types that can be weights, as the ggml type of the same encoding.</summary>
    protected static GgmlType FromSafetensors(string file, string tensor, SafetensorsDType d) => d switch
    {
        SafetensorsDType.F32 => GgmlType.F32,
        SafetensorsDType.F16 => GgmlType.F16,
        SafetensorsDType.BF16 => GgmlType.BF16,
        SafetensorsDType.F64 => GgmlType.F64,
        _ => throw new BadInputException($"{file}: tensor '{tensor}' has dtype {d}; expected F32, F16, BF16 or F64"),
    };
}
