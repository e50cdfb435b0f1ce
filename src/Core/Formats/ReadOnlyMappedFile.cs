using System.IO.MemoryMappedFiles;

namespace LlamaAdapter.Core.Formats;

/// <summary>
/// A whole file mapped read-only, addressed by 64-bit offsets: tensor files are larger than a span can index,
/// so every access names its range and is bounds-checked here instead of trusting offsets read from the file.
/// </summary>
internal sealed unsafe class ReadOnlyMappedFile : IDisposable
{
    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private byte* _base;

    public string Path { get; }
    public long Length { get; }

    public ReadOnlyMappedFile(string path)
    {
        Path = path;
        Length = new FileInfo(path).Length; // FileNotFoundException names the path
        if (Length == 0) return; // an empty file cannot be mapped; every read of it fails the bounds check
        _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref _base);
        _base += _view.PointerOffset;
    }

    public bool Contains(long offset, long length) => offset >= 0 && length >= 0 && offset <= Length && length <= Length - offset;

    /// <summary>A pointer to <paramref name="length"/> bytes at <paramref name="offset"/>; valid until Dispose.</summary>
    public byte* Pointer(long offset, long length)
    {
        if (!Contains(offset, length)) throw new ArgumentOutOfRangeException(nameof(offset), $"{Path}: bytes [{offset}, {offset}+{length}) lie outside the file of {Length} bytes");
        ObjectDisposedException.ThrowIf(_base == null && Length > 0, this);
        return _base + offset;
    }

    public ReadOnlySpan<byte> Span(long offset, long length)
    {
        if (length > int.MaxValue) throw new NotSupportedException($"{Path}: {length} bytes at {offset} do not fit one span; use the pointer overload");
        return new ReadOnlySpan<byte>(Pointer(offset, length), (int)length);
    }

    /// <summary>Lets the kernel drop the resident pages of a range that has been read (see <see cref="MappedPages"/>).</summary>
    public void Release(long offset, long length)
    {
        if (_base == null || !Contains(offset, length)) return;
        MappedPages.Release(_base + offset, length);
    }

    public void Dispose()
    {
        if (_view != null && _base != null)
        {
            _base = null;
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
        _view?.Dispose();
        _map?.Dispose();
    }
}
