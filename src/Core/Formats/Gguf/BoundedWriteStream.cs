namespace LlamaAdapter.Core.Formats.Gguf;

/// <summary>
/// The write-only stream a <see cref="GgufWriter"/> tensor callback writes into: it passes bytes through to the
/// file and refuses any byte past the tensor's declared size, so a wrong producer cannot spill into the next tensor.
/// </summary>
internal sealed class BoundedWriteStream(Stream inner, long limit, string tensorName) : Stream
{
    public long Written { get; private set; }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (buffer.Length > limit - Written)
            throw new InvalidOperationException($"tensor '{tensorName}' takes {limit} bytes; the writer callback tried to write more ({Written} + {buffer.Length})");
        inner.Write(buffer);
        Written += buffer.Length;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
    public override void WriteByte(byte value) => Write([value]);

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => Written;
    public override long Position { get => Written; set => throw new NotSupportedException(); }
    public override void Flush() { } // the writer owns the file stream and flushes it on Commit
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
