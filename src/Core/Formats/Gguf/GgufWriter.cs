using System.Runtime.InteropServices;
using System.Text;

namespace LlamaAdapter.Core.Formats.Gguf;

/// <summary>
/// Writes a GGUF v3 file as a stream: the metadata and every tensor's name, type and shape are declared up front
/// (so the header, with ggml's contiguous offsets, goes out first), then each tensor's bytes follow in declared
/// order, from a span or produced chunk by chunk into a stream. Only the current chunk is ever in memory.
/// Everything goes to a temp file beside the target, which <see cref="Commit"/> renames over it; disposing
/// without committing deletes the temp file, so a failed conversion leaves no half-written model.
/// </summary>
public sealed class GgufWriter : IDisposable
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private static readonly byte[] Zeros = new byte[256];

    private readonly string _path;
    private readonly string _tempPath;
    private FileStream? _stream;
    private int _next;          // index of the next tensor to write
    private bool _faulted;      // a tensor write failed part-way: the file cannot be committed
    private bool _committed;

    public long Alignment { get; }
    public long DataOffset { get; }
    /// <summary>The planned layout: offsets within the data section, sizes, and file offsets.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    private GgufWriter(string path, GgufMetadata metadata, IReadOnlyList<GgufTensorSpec> specs)
    {
        _path = System.IO.Path.GetFullPath(path);
        Alignment = AlignmentOf(metadata);
        var planned = Plan(specs, Alignment);   // every declaration checked before a file is created

        string dir = System.IO.Path.GetDirectoryName(_path)!;
        _tempPath = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(_path)}.{Guid.NewGuid():N}.tmp");
        _stream = new FileStream(_tempPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 1 << 20);
        try
        {
            var layout = WriteHeader(_stream, metadata, planned, Alignment);
            DataOffset = layout.DataOffset;
            Tensors = layout.Tensors;
        }
        catch
        {
            DeleteTemp();
            throw;
        }
    }

    /// <summary>
    /// Writes only the header (and the padding up to the data section) to <paramref name="destination"/>, and
    /// returns the layout the tensor data must follow. For tools that place the data themselves, e.g. a sparse
    /// test file; a model is written with <see cref="Create"/>.
    /// </summary>
    public static GgufFileLayout WriteHeader(Stream destination, GgufMetadata metadata, IEnumerable<GgufTensorSpec> tensors)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(tensors);
        long alignment = AlignmentOf(metadata);
        return WriteHeader(destination, metadata, Plan(tensors.ToArray(), alignment), alignment);
    }

    private static GgufFileLayout WriteHeader(Stream s, GgufMetadata metadata, List<GgufTensorInfo> planned, long alignment)
    {
        long written;
        using (var w = new CountingWriter(s))
        {
            w.Write(GgufLayout.Magic);
            w.Write(GgufLayout.Version);
            w.Write((ulong)planned.Count);
            w.Write((ulong)metadata.Count);
            foreach (var (key, value) in metadata)
            {
                WriteString(w, key, $"metadata key '{key}'");
                w.Write((uint)value.Type);
                if (value.IsArray) WriteArrayBody(w, value, key, depth: 1);
                else WriteScalar(w, value, key);
            }
            foreach (var t in planned)
            {
                WriteString(w, t.Name, $"tensor name '{t.Name}'");
                w.Write((uint)t.Shape.Count);
                foreach (long d in t.Shape) w.Write(d);
                w.Write((uint)t.Type);
                w.Write((ulong)t.Offset);
            }
            w.Flush();
            written = w.Count;
        }
        long dataOffset = GgufLayout.Align(written, alignment);
        WriteZeros(s, dataOffset - written);
        var tensors = planned.Select(t => t with { FileOffset = dataOffset + t.Offset }).ToArray();
        long end = tensors.Length == 0 ? dataOffset : GgufLayout.Align(tensors[^1].FileOffset + tensors[^1].ByteSize, alignment);
        return new GgufFileLayout(alignment, dataOffset, tensors, end);
    }

    /// <summary>
    /// Starts <paramref name="path"/>'s temp file and writes the header. The alignment is metadata's
    /// general.alignment (a power-of-two UInt32) or 32. Mistakes in the declarations throw <see cref="ArgumentException"/>.
    /// </summary>
    public static GgufWriter Create(string path, GgufMetadata metadata, IEnumerable<GgufTensorSpec> tensors)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(tensors);
        return new GgufWriter(path, metadata, tensors.ToArray());
    }

    /// <summary>The next declared tensor's bytes, all at once.</summary>
    public void WriteTensor(string name, ReadOnlySpan<byte> data)
    {
        var t = Begin(name);
        if (data.Length != t.ByteSize)
            throw new ArgumentException($"tensor '{name}' ({t.Type} [{string.Join(", ", t.Shape)}]) takes {t.ByteSize} bytes, got {data.Length}", nameof(data));
        _faulted = true;
        _stream!.Write(data);
        End();
    }

    /// <summary>
    /// The next declared tensor's bytes, produced by <paramref name="write"/> into a stream chunk by chunk; it must
    /// write exactly the tensor's byte size (writing more throws at once, fewer when it returns).
    /// </summary>
    public void WriteTensor(string name, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        var t = Begin(name);
        _faulted = true;
        using var sink = new BoundedWriteStream(_stream!, t.ByteSize, name);
        write(sink);
        if (sink.Written != t.ByteSize)
            throw new InvalidOperationException($"tensor '{name}' takes {t.ByteSize} bytes, but the writer callback produced {sink.Written}");
        End();
    }

    /// <summary>Flushes to disk and renames the temp file over the target. Every declared tensor must have been written.</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_stream is null, this);
        if (_faulted) throw new InvalidOperationException($"a tensor write into {_path} failed part-way; the file cannot be committed");
        if (_next != Tensors.Count)
            throw new InvalidOperationException($"{_path}: {Tensors.Count - _next} declared tensors were not written, starting with '{Tensors[_next].Name}'");
        _stream.Flush(flushToDisk: true);
        _stream.Dispose();
        _stream = null;
        File.Move(_tempPath, _path, overwrite: true);
        _committed = true;
    }

    public void Dispose()
    {
        if (_committed) return;
        DeleteTemp();
    }

    private GgufTensorInfo Begin(string name)
    {
        ObjectDisposedException.ThrowIf(_stream is null, this);
        if (_faulted) throw new InvalidOperationException($"a tensor write into {_path} failed part-way; no more tensors can be written");
        if (_next >= Tensors.Count) throw new InvalidOperationException($"all {Tensors.Count} declared tensors are written; '{name}' is extra");
        var t = Tensors[_next];
        if (t.Name != name) throw new InvalidOperationException($"tensors are written in declared order: expected '{t.Name}' next, got '{name}'");
        return t;
    }

    private void End()
    {
        Pad();
        _faulted = false;
        _next++;
    }

    private void Pad() => WriteZeros(_stream!, GgufLayout.Align(_stream!.Position, Alignment) - _stream.Position);

    private static void WriteZeros(Stream s, long n)
    {
        for (; n > 0; n -= Math.Min(n, Zeros.Length)) s.Write(Zeros, 0, (int)Math.Min(n, Zeros.Length));
    }

    private void DeleteTemp()
    {
        // Closing flushes the buffer, which fails again on a full disk; the temp file must go all the same.
        try { _stream?.Dispose(); }
        catch (IOException) { }
        _stream = null;
        try { File.Delete(_tempPath); }
        catch (IOException) { } // best effort: the temp name never collides with a real output
    }

    private static long AlignmentOf(GgufMetadata metadata)
    {
        if (!metadata.TryGetValue(GgufLayout.AlignmentKey, out var v)) return GgufLayout.DefaultAlignment;
        if (v.Type != GgufValueType.UInt32 || !GgufLayout.IsValidAlignment((uint)v.Raw))
            throw new ArgumentException($"{GgufLayout.AlignmentKey} must be a UInt32 power of two > 0, got {v.Type} {v}", nameof(metadata));
        return (uint)v.Raw;
    }

    /// <summary>ggml's layout: tensors back to back in declared order, each starting on an alignment boundary.</summary>
    private static List<GgufTensorInfo> Plan(IReadOnlyList<GgufTensorSpec> specs, long alignment)
    {
        var planned = new List<GgufTensorInfo>(specs.Count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        long offset = 0;
        foreach (var s in specs)
        {
            ArgumentNullException.ThrowIfNull(s);
            ArgumentNullException.ThrowIfNull(s.Name);
            if (!names.Add(s.Name)) throw new ArgumentException($"duplicate tensor name '{s.Name}'", nameof(specs));
            int nameBytes = Encode(s.Name, $"tensor name '{s.Name}'").Length;
            if (nameBytes > GgufLayout.MaxGgmlNameBytes)
                throw new ArgumentException($"tensor name '{s.Name}' is {nameBytes} UTF-8 bytes; ggml allows at most {GgufLayout.MaxGgmlNameBytes}", nameof(specs));
            long size = GgufTensorInfo.ByteSizeOf(s.Type, s.Shape.ToArray(), out string? error);
            if (error is not null) throw new ArgumentException($"tensor '{s.Name}': {error}", nameof(specs));
            planned.Add(new GgufTensorInfo(s.Name, s.Type, s.Shape.ToArray(), offset, size, FileOffset: -1));
            offset = GgufLayout.Align(checked(offset + size), alignment);
        }
        return planned;
    }

    private static void WriteScalar(BinaryWriter w, GgufValue v, string key)
    {
        switch (v.Raw)
        {
            case byte x: w.Write(x); break;
            case sbyte x: w.Write(x); break;
            case ushort x: w.Write(x); break;
            case short x: w.Write(x); break;
            case uint x: w.Write(x); break;
            case int x: w.Write(x); break;
            case float x: w.Write(x); break;
            case bool x: w.Write((byte)(x ? 1 : 0)); break;
            case string x: WriteString(w, x, $"metadata '{key}'"); break;
            case ulong x: w.Write(x); break;
            case long x: w.Write(x); break;
            case double x: w.Write(x); break;
            default: throw new ArgumentException($"metadata '{key}' holds a {v.Raw.GetType()}, not a GGUF scalar");
        }
    }

    private static void WriteArrayBody(BinaryWriter w, GgufValue v, string key, int depth)
    {
        if (depth > GgufHeaderParser.MaxArrayNesting)
            throw new ArgumentException($"metadata '{key}' nests arrays deeper than {GgufHeaderParser.MaxArrayNesting}, which GgufReader refuses");
        w.Write((uint)v.ElementType);
        w.Write((ulong)v.ArrayLength);
        switch (v.Raw)
        {
            case string[] items: foreach (var s in items) WriteString(w, s, $"metadata '{key}'"); break;
            case bool[] items: foreach (bool b in items) w.Write((byte)(b ? 1 : 0)); break;
            case GgufValue[] items: foreach (var inner in items) WriteArrayBody(w, inner, key, depth + 1); break;
            case byte[] items: w.Write(items); break;
            case sbyte[] items: w.Write(MemoryMarshal.AsBytes(items.AsSpan())); break;
            case ushort[] items: w.Write(MemoryMarshal.AsBytes(items.AsSpan())); break;
            case short[] items: w.Write(MemoryMarshal.AsBytes(items.AsSpan())); break;
            case uint[] items: w.Write(MemoryMarshal.AsBytes(items.AsSpan())); break;
            case int[] items: w.Write(MemoryMarshal.AsBytes(items.AsSpan())); break;
            case float[] items: w.Write(MemoryMarshal.AsBytes(items.AsSpan())); break;
            case ulong[] items: w.Write(MemoryMarshal.AsBytes(items.AsSpan())); break;
            case long[] items: w.Write(MemoryMarshal.AsBytes(items.AsSpan())); break;
            case double[] items: w.Write(MemoryMarshal.AsBytes(items.AsSpan())); break;
            default: throw new ArgumentException($"metadata '{key}' holds a {v.Raw.GetType()}, not a GGUF array");
        }
    }

    private static void WriteString(BinaryWriter w, string s, string what)
    {
        ArgumentNullException.ThrowIfNull(s, what);
        byte[] bytes = Encode(s, what);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static byte[] Encode(string s, string what)
    {
        try { return StrictUtf8.GetBytes(s); }
        catch (EncoderFallbackException e) { throw new ArgumentException($"{what} is not valid Unicode (a lone surrogate)", e); }
    }
}

/// <summary>Where a GGUF file's parts go: the data section start, each tensor's place, and the padded end.</summary>
public sealed record GgufFileLayout(long Alignment, long DataOffset, IReadOnlyList<GgufTensorInfo> Tensors, long FileLength);

/// <summary>A little-endian BinaryWriter that counts what it wrote, for streams that cannot tell their position.</summary>
file sealed class CountingWriter(Stream s) : BinaryWriter(new CountingStream(s), new UTF8Encoding(false, true), leaveOpen: true)
{
    public long Count => ((CountingStream)OutStream).Count;

    private sealed class CountingStream(Stream inner) : Stream
    {
        public long Count { get; private set; }
        public override void Write(ReadOnlySpan<byte> buffer) { inner.Write(buffer); Count += buffer.Length; }
        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void WriteByte(byte value) => Write([value]);
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Count;
        public override long Position { get => Count; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
