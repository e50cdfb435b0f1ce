using System.IO.Compression;
using LlamaAdapter.Core.Formats.Safetensors;

namespace LlamaAdapter.Core.Formats.Meta;

/// <summary>
/// One torch.save zip (e.g. Meta's consolidated.00.pth): <c>&lt;archive&gt;/data.pkl</c> describes a flat dict of
/// tensors whose bytes are the records <c>&lt;archive&gt;/data/&lt;key&gt;</c>. The file is memory-mapped; a contiguous
/// tensor in a stored record is handed out in place, anything else (strided views, deflated records) is copied.
/// </summary>
public sealed unsafe class TorchCheckpoint : IDisposable
{
    private readonly ReadOnlyMappedFile _file;
    private readonly Dictionary<string, ZipEntry> _records;   // storage key → record
    private readonly Dictionary<string, TorchTensorRef> _refs;
    private readonly Dictionary<string, TorchTensorInfo> _infos;
    private readonly Dictionary<string, byte[]> _inflated = [];

    public string Path => _file.Path;
    /// <summary>Tensors in the order of the pickled dict.</summary>
    public IReadOnlyList<TorchTensorInfo> Tensors { get; }

    private TorchCheckpoint(ReadOnlyMappedFile file, Dictionary<string, ZipEntry> records, List<(string Name, TorchTensorRef Ref)> tensors)
    {
        _file = file;
        _records = records;
        _refs = tensors.ToDictionary(t => t.Name, t => t.Ref, StringComparer.Ordinal);
        var infos = tensors.Select(t => new TorchTensorInfo(t.Name, t.Ref.Storage.DType, t.Ref.Size)).ToList();
        _infos = infos.ToDictionary(i => i.Name, StringComparer.Ordinal);
        Tensors = infos;
    }

    public static TorchCheckpoint Open(string path)
    {
        if (!File.Exists(path)) throw new MetaCheckpointException(path, "file not found");
        var file = new ReadOnlyMappedFile(path);
        try
        {
            var entries = ZipDirectory.Read(file);
            var pkls = entries.Where(e => e.Name.EndsWith("/data.pkl", StringComparison.Ordinal) && e.Name.Count(c => c == '/') == 1).ToList();
            if (pkls.Count != 1)
                throw new MetaCheckpointException(path, $"zip members: expected exactly one <archive>/data.pkl, found {pkls.Count}");
            string prefix = pkls[0].Name[..^"data.pkl".Length];

            if (entries.FirstOrDefault(e => e.Name == prefix + "byteorder") is { } bo)
            {
                string order = System.Text.Encoding.ASCII.GetString(Bytes(file, bo));
                if (order != "little") throw new MetaCheckpointException(path, $"{bo.Name}: '{order}'; expected 'little'");
            }

            object? root = PickleReader.Load(Bytes(file, pkls[0]), path, pkls[0].Name);
            if (root is not PickleDict dict) throw new MetaCheckpointException(path, $"{pkls[0].Name}: the pickled object is a {root?.GetType().Name ?? "None"}; expected a dict of tensors");

            var records = new Dictionary<string, ZipEntry>(StringComparer.Ordinal);
            foreach (var e in entries)
                if (e.Name.StartsWith(prefix + "data/", StringComparison.Ordinal)) records[e.Name[(prefix.Length + 5)..]] = e;

            var tensors = new List<(string, TorchTensorRef)>();
            foreach (var (k, v) in dict.Items)
            {
                if (k is not string name) throw new MetaCheckpointException(path, $"{pkls[0].Name}: a key is {k}; expected tensor names (strings)");
                if (v is not TorchTensorRef t) throw new MetaCheckpointException(path, $"{pkls[0].Name}: entry '{name}' is a {v?.GetType().Name ?? "None"}; expected a tensor");
                Check(path, prefix, name, t, records);
                tensors.Add((name, t));
            }
            return new TorchCheckpoint(file, records, tensors);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    // The view must lie inside its storage, and the storage record must hold exactly numel elements.
    private static void Check(string path, string prefix, string name, TorchTensorRef t, Dictionary<string, ZipEntry> records)
    {
        MetaCheckpointException Bad(string what) => new(path, $"tensor '{name}': {what}");
        if (!records.TryGetValue(t.Storage.Key, out var rec)) throw Bad($"storage record {prefix}data/{t.Storage.Key} is missing");
        int es = t.Storage.DType.ElementSize();
        long expected;
        try { expected = checked(t.Storage.Numel * es); }
        catch (OverflowException) { throw Bad($"storage numel {t.Storage.Numel} overflows"); }
        if (rec.Size != expected) throw Bad($"storage record {rec.Name} holds {rec.Size} bytes; expected numel {t.Storage.Numel} × {es} ({t.Storage.DType}) = {expected}");
        if (t.Offset < 0) throw Bad($"storage offset {t.Offset}; expected ≥ 0");
        if (t.Size.Any(d => d < 0)) throw Bad($"size [{string.Join(", ", t.Size)}] has a negative dimension");
        if (t.Stride.Any(d => d < 0)) throw Bad($"stride [{string.Join(", ", t.Stride)}] has a negative entry");
        try
        {
            long numel = t.Size.Aggregate(1L, (a, d) => checked(a * d));
            if (numel == 0) return;
            long last = t.Offset;
            for (int i = 0; i < t.Size.Length; i++) last = checked(last + (t.Size[i] - 1) * t.Stride[i]);
            if (last >= t.Storage.Numel)
                throw Bad($"offset {t.Offset}, size [{string.Join(", ", t.Size)}], stride [{string.Join(", ", t.Stride)}] reach element {last}; the storage has {t.Storage.Numel}");
        }
        catch (OverflowException) { throw Bad($"size [{string.Join(", ", t.Size)}] / stride [{string.Join(", ", t.Stride)}] overflow 64-bit indexing"); }
    }

    private static byte[] Bytes(ReadOnlyMappedFile file, ZipEntry e)
    {
        if (e.Size > int.MaxValue) throw new MetaCheckpointException(file.Path, $"{e.Name}: {e.Size} bytes is too large to load whole");
        if (e.Method == ZipEntry.Stored) return file.Span(e.DataOffset, e.Size).ToArray();
        return Inflate(file, e);
    }

    private static byte[] Inflate(ReadOnlyMappedFile file, ZipEntry e)
    {
        if (e.Method != ZipEntry.Deflated) throw new MetaCheckpointException(file.Path, $"{e.Name}: compression method {e.Method}; expected 0 (stored) or 8 (deflate)");
        if ((e.Flags & 1) != 0) throw new MetaCheckpointException(file.Path, $"{e.Name}: encrypted zip members are not supported");
        if (e.Size > Array.MaxLength) throw new MetaCheckpointException(file.Path, $"{e.Name}: {e.Size} bytes is too large to inflate into memory");
        var result = new byte[e.Size];
        using var src = new UnmanagedMemoryStream(file.Pointer(e.DataOffset, e.CompressedSize), e.CompressedSize);
        using var z = new DeflateStream(src, CompressionMode.Decompress);
        int n = 0;
        try
        {
            while (n < result.Length && z.Read(result, n, result.Length - n) is var r and > 0) n += r;
        }
        catch (InvalidDataException ex) { throw new MetaCheckpointException(file.Path, $"{e.Name}: corrupt deflate data: {ex.Message}", ex); }
        if (n != result.Length) throw new MetaCheckpointException(file.Path, $"{e.Name}: inflated to {n} bytes; expected {result.Length}");
        return result;
    }

    public bool Contains(string name) => _infos.ContainsKey(name);

    public TorchTensorInfo this[string name] =>
        _infos.TryGetValue(name, out var i) ? i : throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");

    /// <summary>True when <see cref="GetBytes"/> returns a view of the mapped file rather than a copy.</summary>
    public bool IsZeroCopy(string name)
    {
        _ = this[name];
        var t = _refs[name];
        return _records[t.Storage.Key].Method == ZipEntry.Stored && IsContiguous(t);
    }

    /// <summary>Drops the pages of the tensor's storage from the resident set once read (they stay in the page cache).</summary>
    public void Release(string name)
    {
        _ = this[name];
        var rec = _records[_refs[name].Storage.Key];
        if (rec.Method == ZipEntry.Stored) _file.Release(rec.DataOffset, rec.Size);
    }

    /// <summary>The tensor's bytes, row-major contiguous: a view of the mapping when possible (valid until Dispose), else a copy.</summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var info = this[name];
        var t = _refs[name];
        var rec = _records[t.Storage.Key];
        int es = info.DType.ElementSize();
        if (info.ByteSize > int.MaxValue) throw new NotSupportedException($"{Path}: tensor '{name}' of {info.ByteSize} bytes does not fit one span");
        ReadOnlySpan<byte> storage = rec.Method == ZipEntry.Stored
            ? new ReadOnlySpan<byte>(_file.Pointer(rec.DataOffset, rec.Size), checked((int)Math.Min(rec.Size, int.MaxValue)))
            : InflatedStorage(t.Storage.Key, rec);
        if (IsContiguous(t))
        {
            if (rec.Method == ZipEntry.Stored)
                return new ReadOnlySpan<byte>(_file.Pointer(rec.DataOffset + t.Offset * es, info.ByteSize), (int)info.ByteSize);
            return storage.Slice((int)(t.Offset * es), (int)info.ByteSize);
        }
        if (rec.Size > int.MaxValue) throw new NotSupportedException($"{Path}: strided tensor '{name}' over a storage of {rec.Size} bytes");
        return Gather(storage, t, es, info.ByteSize);
    }

    private byte[] InflatedStorage(string key, ZipEntry rec)
    {
        if (!_inflated.TryGetValue(key, out var b)) _inflated[key] = b = Inflate(_file, rec);
        return b;
    }

    private static bool IsContiguous(TorchTensorRef t)
    {
        long expected = 1;
        for (int i = t.Size.Length - 1; i >= 0; i--)
        {
            if (t.Size[i] != 1 && t.Stride[i] != expected) return false; // a dimension of 1 may carry any stride
            expected *= t.Size[i];
        }
        return true;
    }

    // Copies a strided view into row-major order, one innermost row at a time.
    private static byte[] Gather(ReadOnlySpan<byte> storage, TorchTensorRef t, int es, long bytes)
    {
        var dst = new byte[bytes];
        int rank = t.Size.Length;
        if (bytes == 0) return dst;
        long inner = t.Size[^1], innerStride = t.Stride[^1];
        var idx = new long[Math.Max(rank - 1, 0)];
        long outPos = 0;
        while (true)
        {
            long at = t.Offset;
            for (int d = 0; d < rank - 1; d++) at += idx[d] * t.Stride[d];
            for (long j = 0; j < inner; j++)
            {
                storage.Slice((int)((at + j * innerStride) * es), es).CopyTo(dst.AsSpan((int)outPos, es));
                outPos += es;
            }
            int k = rank - 2;
            while (k >= 0 && ++idx[k] == t.Size[k]) idx[k--] = 0;
            if (k < 0) return dst;
        }
    }

    public void Dispose() => _file.Dispose();
}
