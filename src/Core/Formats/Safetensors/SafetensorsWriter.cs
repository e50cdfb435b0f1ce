namespace LlamaAdapter.Core.Formats.Safetensors;

/// <summary>A tensor to be written: its bytes follow later, in declaration order.</summary>
public sealed record SafetensorsTensorDecl(string Name, SafetensorsDType DType, long[] Shape);

/// <summary>
/// Streams a safetensors file: all tensors are declared up front (the header precedes the data), then their
/// bytes are appended in declaration order, in as many pieces as the caller likes. The file appears at its
/// path only on <see cref="Commit"/>: it is written to a temporary file beside it and renamed over it.
/// </summary>
public sealed class SafetensorsWriter : IDisposable
{
    private readonly string _path;
    private readonly string _tempPath;
    private readonly FileStream _stream;
    private readonly List<SafetensorsTensorInfo> _tensors;
    private int _current;      // index of the tensor being filled
    private long _written;     // bytes of the data section written so far
    private bool _committed;

    public SafetensorsWriter(string path, IEnumerable<SafetensorsTensorDecl> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        _path = System.IO.Path.GetFullPath(path);
        _tensors = [];
        var names = new HashSet<string>(StringComparer.Ordinal);
        long offset = 0;
        foreach (var d in tensors)
        {
            if (string.IsNullOrEmpty(d.Name) || d.Name == "__metadata__") throw new ArgumentException($"'{d.Name}' cannot name a tensor");
            if (!names.Add(d.Name)) throw new ArgumentException($"tensor '{d.Name}' declared twice");
            if (d.Shape.Any(x => x < 0)) throw new ArgumentException($"tensor '{d.Name}' has a negative dimension");
            long size = checked(d.Shape.Aggregate(1L, (a, x) => checked(a * x)) * d.DType.ElementSize());
            _tensors.Add(new SafetensorsTensorInfo(d.Name, d.DType, (long[])d.Shape.Clone(), offset, checked(offset + size)));
            offset += size;
        }
        byte[] header = SafetensorsHeader.Serialize(_tensors, metadata);
        if (header.Length > SafetensorsHeader.MaxHeaderBytes) throw new ArgumentException($"header of {header.Length} bytes exceeds the {SafetensorsHeader.MaxHeaderBytes}-byte limit readers enforce");

        _tempPath = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(_path)!, $".{System.IO.Path.GetFileName(_path)}.{Guid.NewGuid():N}.tmp");
        _stream = new FileStream(_tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        Span<byte> len = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
        _stream.Write(len);
        _stream.Write(header);
        SkipEmpty();
    }

    /// <summary>The tensor whose bytes are expected next, or null when all are written.</summary>
    public string? Next => _current < _tensors.Count ? _tensors[_current].Name : null;

    /// <summary>Appends bytes of the current tensor; a piece may not run past its end.</summary>
    public void Write(ReadOnlySpan<byte> bytes)
    {
        ObjectDisposedException.ThrowIf(_committed, this);
        while (!bytes.IsEmpty)
        {
            if (_current >= _tensors.Count) throw new InvalidOperationException($"{bytes.Length} bytes written past the last declared tensor");
            var t = _tensors[_current];
            int n = (int)Math.Min(bytes.Length, t.End - _written);
            _stream.Write(bytes[..n]);
            _written += n;
            bytes = bytes[n..];
            if (_written == t.End) { _current++; SkipEmpty(); }
        }
    }

    /// <summary>Writes all bytes of tensor <paramref name="name"/>, which must be the next one due.</summary>
    public void WriteTensor(string name, ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty && _tensors.Any(x => x.Name == name && x.ByteSize == 0)) return; // nothing to write
        var t = _current < _tensors.Count ? _tensors[_current] : null;
        if (t is null || t.Name != name || _written != t.Begin)
            throw new InvalidOperationException($"tensor '{name}' written out of order; expected {(t is null ? "none" : $"the start of '{t.Name}'")}");
        if (bytes.Length != t.ByteSize) throw new ArgumentException($"tensor '{name}' needs {t.ByteSize} bytes, got {bytes.Length}");
        Write(bytes);
    }

    /// <summary>Flushes and moves the finished file into place (replacing any file there).</summary>
    public void Commit()
    {
        if (_current < _tensors.Count)
            throw new InvalidOperationException($"tensor '{_tensors[_current].Name}' still lacks {_tensors[_current].End - _written} bytes");
        _stream.Flush(flushToDisk: true);
        _stream.Dispose();
        File.Move(_tempPath, _path, overwrite: true);
        _committed = true;
    }

    private void SkipEmpty()
    {
        while (_current < _tensors.Count && _tensors[_current].ByteSize == 0) _current++;
    }

    /// <summary>Without a prior <see cref="Commit"/>, deletes the partial file: nothing half-written is left behind.</summary>
    public void Dispose()
    {
        if (_committed) return;
        _stream.Dispose();
        try { File.Delete(_tempPath); } catch (IOException) { }
        _committed = true;
    }
}
