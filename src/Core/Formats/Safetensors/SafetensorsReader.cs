using System.Buffers.Binary;

namespace LlamaAdapter.Core.Formats.Safetensors;

/// <summary>
/// A memory-mapped safetensors file: [u64 LE header length N][N bytes UTF-8 JSON][data]. Tensor bytes are handed
/// out as views of the mapping (no copy), valid until Dispose.
/// </summary>
public sealed unsafe class SafetensorsReader : IDisposable
{
    private readonly ReadOnlyMappedFile _file;
    private readonly Dictionary<string, SafetensorsTensorInfo> _byName;

    public string Path => _file.Path;
    /// <summary>Tensors in header order.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }
    /// <summary>The <c>__metadata__</c> map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }
    /// <summary>Absolute file offset of the data section (8 + header length).</summary>
    public long DataOffset { get; }

    private SafetensorsReader(ReadOnlyMappedFile file, List<SafetensorsTensorInfo> tensors, Dictionary<string, string> metadata, long dataOffset)
    {
        _file = file;
        Tensors = tensors;
        Metadata = metadata;
        DataOffset = dataOffset;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    public static SafetensorsReader Open(string path)
    {
        if (!System.IO.File.Exists(path)) throw new SafetensorsFormatException(path, "file not found");
        var file = new ReadOnlyMappedFile(path);
        try
        {
            if (file.Length < 8)
                throw new SafetensorsFormatException(path, $"header length (offset 0): file has {file.Length} bytes; expected at least 8");
            ulong n = BinaryPrimitives.ReadUInt64LittleEndian(file.Span(0, 8));
            if (n > SafetensorsHeader.MaxHeaderBytes)
                throw new SafetensorsFormatException(path, $"header length (offset 0) is {n}; expected at most {SafetensorsHeader.MaxHeaderBytes}");
            if ((long)n > file.Length - 8)
                throw new SafetensorsFormatException(path, $"header length (offset 0) is {n}; expected at most {file.Length - 8} (file size {file.Length} − 8)");
            if (n < 2) throw new SafetensorsFormatException(path, $"header length (offset 0) is {n}; expected at least 2 (a JSON object)");
            long dataOffset = 8 + (long)n;
            var (tensors, metadata) = SafetensorsHeader.Parse(path, file.Span(8, (long)n), file.Length - dataOffset);
            return new SafetensorsReader(file, tensors, metadata, dataOffset);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public bool Contains(string name) => _byName.ContainsKey(name);

    public SafetensorsTensorInfo this[string name] =>
        _byName.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");

    /// <summary>The tensor's bytes as a view of the mapping (tensors over 2 GiB: use <see cref="GetPointer"/>).</summary>
    public ReadOnlySpan<byte> GetBytes(string name)
    {
        var t = this[name];
        return _file.Span(DataOffset + t.Begin, t.ByteSize);
    }

    /// <summary>A pointer to the tensor's <see cref="SafetensorsTensorInfo.ByteSize"/> bytes; valid until Dispose.</summary>
    public byte* GetPointer(string name)
    {
        var t = this[name];
        return _file.Pointer(DataOffset + t.Begin, t.ByteSize);
    }

    /// <summary>Drops the tensor's pages from the resident set once read (they stay in the page cache).</summary>
    public void Release(string name)
    {
        var t = this[name];
        _file.Release(DataOffset + t.Begin, t.ByteSize);
    }

    public void Dispose() => _file.Dispose();
}
