using System.Text.RegularExpressions;
using LlamaAdapter.Core.Config;

namespace LlamaAdapter.Core.Formats.Meta;

/// <summary>
/// A Meta LLaMA checkpoint directory: params.json and consolidated.00.pth … (one per model-parallel rank; 7B has
/// one, 13B two). Shards are merged as llama.cpp's convert.py did: 1-D tensors are replicated (shard 0 is used);
/// tok_embeddings, attention.wo and feed_forward.w2 were split by columns and are concatenated along axis 1;
/// everything else was split by rows and is concatenated along axis 0.
/// </summary>
public sealed partial class MetaCheckpoint : IDisposable
{
    private readonly List<TorchCheckpoint> _shards;
    private readonly Dictionary<string, TorchTensorInfo> _infos;

    public IReadOnlyList<TorchCheckpoint> Shards => _shards;
    /// <summary>Merged tensors, in shard 0's order.</summary>
    public IReadOnlyList<TorchTensorInfo> Tensors { get; }
    public LlamaConfig Config { get; }

    [GeneratedRegex(@"^consolidated\.(\d+)\.pth$")]
    private static partial Regex ShardName();

    private MetaCheckpoint(List<TorchCheckpoint> shards, List<TorchTensorInfo> tensors, LlamaConfig config)
    {
        _shards = shards;
        Tensors = tensors;
        _infos = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        Config = config;
    }

    public static MetaCheckpoint Open(string dir)
    {
        if (!Directory.Exists(dir)) throw new MetaCheckpointException(dir, "no such directory");
        var files = Directory.GetFiles(dir)
            .Select(p => (Path: p, M: ShardName().Match(System.IO.Path.GetFileName(p))))
            .Where(x => x.M.Success)
            .OrderBy(x => int.Parse(x.M.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))
            .Select(x => x.Path).ToList();
        if (files.Count == 0) throw new MetaCheckpointException(dir, "no consolidated.NN.pth files");
        for (int i = 0; i < files.Count; i++)
        {
            int n = int.Parse(ShardName().Match(System.IO.Path.GetFileName(files[i])).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (n != i) throw new MetaCheckpointException(dir, $"shard consolidated.{i:00}.pth is missing (found {System.IO.Path.GetFileName(files[i])})");
        }
        string paramsPath = System.IO.Path.Combine(dir, "params.json");
        if (!File.Exists(paramsPath)) throw new MetaCheckpointException(dir, "params.json is missing");

        var shards = new List<TorchCheckpoint>();
        try
        {
            foreach (var f in files) shards.Add(TorchCheckpoint.Open(f));
            var merged = MergedInfos(shards);
            var emb = merged.FirstOrDefault(t => t.Name == "tok_embeddings.weight")
                ?? throw new MetaCheckpointException(shards[0].Path, "tensor 'tok_embeddings.weight' is missing");
            if (emb.Shape.Length != 2) throw new MetaCheckpointException(shards[0].Path, $"tensor 'tok_embeddings.weight' has shape [{string.Join(", ", emb.Shape)}]; expected [vocab, dim]");
            var config = LlamaConfig.FromMetaParams(paramsPath, checked((int)emb.Shape[0]));
            if (emb.Shape[0] != config.VocabSize || emb.Shape[1] != config.Dim)
                throw new MetaCheckpointException(paramsPath, $"vocab_size/dim give [{config.VocabSize}, {config.Dim}] but tok_embeddings.weight is [{emb.Shape[0]}, {emb.Shape[1]}]");
            return new MetaCheckpoint(shards, merged, config);
        }
        catch
        {
            foreach (var s in shards) s.Dispose();
            throw;
        }
    }

    /// <summary>The axis along which model-parallel shards of <paramref name="name"/> are concatenated (convert.py's rule).</summary>
    public static int ConcatAxis(string name) =>
        name.StartsWith("tok_embeddings.", StringComparison.Ordinal) || name.EndsWith(".attention.wo.weight", StringComparison.Ordinal)
        || name.EndsWith(".feed_forward.w2.weight", StringComparison.Ordinal) ? 1 : 0;

    private static List<TorchTensorInfo> MergedInfos(List<TorchCheckpoint> shards)
    {
        var result = new List<TorchTensorInfo>();
        foreach (var t0 in shards[0].Tensors)
        {
            foreach (var s in shards.Skip(1))
                if (!s.Contains(t0.Name)) throw new MetaCheckpointException(s.Path, $"tensor '{t0.Name}' is missing; {System.IO.Path.GetFileName(shards[0].Path)} has it");
            if (shards.Count == 1 || t0.Shape.Length <= 1) { result.Add(t0); continue; }
            int axis = ConcatAxis(t0.Name);
            var shape = (long[])t0.Shape.Clone();
            foreach (var s in shards.Skip(1))
            {
                var t = s[t0.Name];
                bool compatible = t.DType == t0.DType && t.Shape.Length == t0.Shape.Length
                                  && Enumerable.Range(0, t.Shape.Length).All(d => d == axis || t.Shape[d] == t0.Shape[d]);
                if (!compatible)
                    throw new MetaCheckpointException(s.Path, $"tensor '{t0.Name}' is {t}; expected {t0.DType} matching [{string.Join(", ", t0.Shape)}] except along axis {axis}");
                shape[axis] = checked(shape[axis] + t.Shape[axis]);
            }
            result.Add(t0 with { Shape = shape });
        }
        foreach (var s in shards.Skip(1))
            foreach (var t in s.Tensors)
                if (!shards[0].Contains(t.Name)) throw new MetaCheckpointException(shards[0].Path, $"tensor '{t.Name}' is missing; {System.IO.Path.GetFileName(s.Path)} has it");
        return result;
    }

    public bool Contains(string name) => _infos.ContainsKey(name);

    public TorchTensorInfo this[string name] =>
        _infos.TryGetValue(name, out var i) ? i : throw new KeyNotFoundException($"no tensor named '{name}' in {System.IO.Path.GetDirectoryName(_shards[0].Path)}");

    /// <summary>Drops the tensor's pages in every shard from the resident set once read.</summary>
    public void Release(string name)
    {
        _ = this[name];
        foreach (var s in _shards) s.Release(name);
    }

    /// <summary>The merged tensor's row-major bytes: a view of shard 0 for single-shard and 1-D tensors, else a new buffer.</summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var info = this[name];
        if (_shards.Count == 1 || info.Shape.Length <= 1) return _shards[0].GetBytes(name);
        if (info.ByteSize > Array.MaxLength) throw new NotSupportedException($"merged tensor '{name}' of {info.ByteSize} bytes does not fit one array");
        var dst = new byte[info.ByteSize];
        int axis = ConcatAxis(name);
        // Viewed as [outer, shard-width × inner]: axis 0 stacks whole shards; axis 1 interleaves each row's pieces.
        long outer = axis == 0 ? 1 : info.Shape[0];
        long rowBytes = info.ByteSize / Math.Max(outer, 1);
        long col = 0;
        foreach (var s in _shards)
        {
            var part = s.GetBytes(name);
            long partRow = part.Length / Math.Max(outer, 1);
            for (long r = 0; r < outer; r++)
                part.Slice((int)(r * partRow), (int)partRow).CopyTo(dst.AsSpan((int)(r * rowBytes + col), (int)partRow));
            col += partRow;
        }
        return dst;
    }

    public void Dispose()
    {
        foreach (var s in _shards) s.Dispose();
    }
}
