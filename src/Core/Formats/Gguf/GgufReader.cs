using System.IO.MemoryMappedFiles;

namespace LlamaAdapter.Core.Formats.Gguf;

/// <summary>
/// A GGUF v3 file, memory-mapped read-only. Opening parses and checks only the header (metadata and tensor
/// infos, every tensor's bytes within the file and not overlapping another's); tensor bytes are handed out as
/// views into the mapping, never copied, and stay valid until Dispose.
/// </summary>
public sealed unsafe class GgufReader : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _data;
    private readonly Dictionary<string, int> _byName;
    private bool _disposed;

    public string Path { get; }
    public long FileLength { get; }
    public uint Version { get; }
    public long Alignment { get; }
    /// <summary>Where the data section starts: the end of the header rounded up to <see cref="Alignment"/>.</summary>
    public long DataOffset { get; }
    public GgufMetadata Metadata { get; }
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    private GgufReader(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* data, long length)
    {
        Path = path;
        _map = map;
        _view = view;
        _data = data;
        FileLength = length;
        var header = GgufHeaderParser.Parse(data, length, path);
        Version = header.Version;
        Alignment = header.Alignment;
        DataOffset = header.DataOffset;
        Metadata = header.Metadata;
        Tensors = header.Tensors;
        _byName = new Dictionary<string, int>(Tensors.Count, StringComparer.Ordinal);
        for (int i = 0; i < Tensors.Count; i++) _byName.Add(Tensors[i].Name, i);
    }

    /// <summary>Maps <paramref name="path"/> and checks its header; a malformed file throws <see cref="GgufFormatException"/>.</summary>
    public static GgufReader Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (Directory.Exists(path)) throw new BadInputException($"{path}: is a directory; expected a GGUF file");
        if (!File.Exists(path)) throw new BadInputException($"{path}: no such file; expected a GGUF file");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        long length = stream.Length;
        if (length == 0)
        {
            stream.Dispose();
            throw new GgufFormatException(path, "magic", 0, "expected \"GGUF\" (47 47 55 46), got an empty file");
        }
        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        byte* data = null;
        try
        {
            map = MemoryMappedFile.CreateFromFile(stream, mapName: null, capacity: 0, MemoryMappedFileAccess.Read,
                                                  HandleInheritability.None, leaveOpen: false);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref data);
            return new GgufReader(path, map, view, data + view.PointerOffset, length);
        }
        catch
        {
            if (data != null) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            if (map is null) stream.Dispose();
            map?.Dispose();
            throw;
        }
    }

    public bool TryGetTensor(string name, out GgufTensorInfo tensor)
    {
        bool found = _byName.TryGetValue(name, out int i);
        tensor = found ? Tensors[i] : null!;
        return found;
    }

    /// <summary>The tensor called <paramref name="name"/>; a file without it is bad input.</summary>
    public GgufTensorInfo Tensor(string name) =>
        TryGetTensor(name, out var t) ? t : throw new GgufFormatException(Path, $"tensor '{name}'", null, "expected in the file, but it is missing");

    /// <summary>A view of the tensor's bytes inside the mapping (no copy).</summary>
    public GgufTensorData Data(GgufTensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_byName.TryGetValue(tensor.Name, out int i) || !Tensors[i].Equals(tensor))
            throw new ArgumentException($"tensor '{tensor.Name}' is not one of {Path}'s tensors", nameof(tensor));
        return new GgufTensorData(Tensors[i], (IntPtr)(_data + Tensors[i].FileOffset));
    }

    public GgufTensorData Data(string name) => Data(Tensor(name));

    /// <summary>The tensor's bytes as a span (under 2 GiB; larger ones through <see cref="Data(GgufTensorInfo)"/>).</summary>
    public ReadOnlySpan<byte> Span(GgufTensorInfo tensor) => Data(tensor).AsSpan();

    public ReadOnlySpan<byte> Span(string name) => Data(name).AsSpan();

    /// <summary>Drops the tensor's pages from the resident set once read (they stay in the page cache).</summary>
    public void Release(string name)
    {
        var t = Tensor(name);
        ObjectDisposedException.ThrowIf(_disposed, this);
        MappedPages.Release(_data + t.FileOffset, t.ByteSize);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
