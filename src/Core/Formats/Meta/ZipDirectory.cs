using System.Buffers.Binary;

namespace LlamaAdapter.Core.Formats.Meta;

/// <summary>One member of a zip archive: where its bytes start in the file and how they are stored.</summary>
internal sealed record ZipEntry(string Name, ushort Method, ushort Flags, long CompressedSize, long Size, long HeaderOffset, long DataOffset)
{
    public const ushort Stored = 0, Deflated = 8;
}

/// <summary>
/// Reads a zip's central directory (zip64 included: 13B shards exceed 4 GiB) and each local header, so that
/// stored members can be used in place. torch.save writes every record stored, 64-byte aligned.
/// </summary>
internal static class ZipDirectory
{
    private const uint LocalSig = 0x04034b50, CentralSig = 0x02014b50, EndSig = 0x06054b50, End64Sig = 0x06064b50, Locator64Sig = 0x07064b50;

    public static List<ZipEntry> Read(ReadOnlyMappedFile f)
    {
        try { return ReadUnchecked(f); }
        catch (OverflowException e) { throw new MetaCheckpointException(f.Path, "zip structure: a zip64 size or offset exceeds 2^63 (corrupt file)", e); }
    }

    private static List<ZipEntry> ReadUnchecked(ReadOnlyMappedFile f)
    {
        MetaCheckpointException Bad(long at, string what) => new(f.Path, $"zip structure at byte {at}: {what}");
        ReadOnlySpan<byte> At(long off, int len) =>
            f.Contains(off, len) ? f.Span(off, len) : throw Bad(off, $"{len} bytes needed but the file ends at {f.Length}");

        if (f.Length < 22 || BinaryPrimitives.ReadUInt32LittleEndian(At(0, 4)) != LocalSig)
            throw Bad(0, "expected the zip signature PK\\x03\\x04 (torch.save's zip format, PyTorch ≥ 1.6); the legacy pre-1.6 format is not supported");

        // End of central directory: the last EndSig within the final 22 + 65535 (comment) bytes.
        long eocd = -1;
        for (long p = f.Length - 22; p >= Math.Max(0, f.Length - 22 - 65535); p--)
            if (BinaryPrimitives.ReadUInt32LittleEndian(At(p, 4)) == EndSig) { eocd = p; break; }
        if (eocd < 0) throw Bad(f.Length - 22, "end-of-central-directory record not found (truncated file?)");
        var e = At(eocd, 22);
        long count = BinaryPrimitives.ReadUInt16LittleEndian(e[10..]);
        long cdSize = BinaryPrimitives.ReadUInt32LittleEndian(e[12..]);
        long cdOffset = BinaryPrimitives.ReadUInt32LittleEndian(e[16..]);
        if (count == 0xFFFF || cdSize == 0xFFFFFFFF || cdOffset == 0xFFFFFFFF)
        {
            long loc = eocd - 20;
            if (loc < 0 || BinaryPrimitives.ReadUInt32LittleEndian(At(loc, 4)) != Locator64Sig) throw Bad(loc, "zip64 locator expected before the end record");
            long e64 = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(At(loc + 8, 8)));
            var r = At(e64, 56);
            if (BinaryPrimitives.ReadUInt32LittleEndian(r) != End64Sig) throw Bad(e64, "zip64 end-of-central-directory signature expected");
            count = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(r[32..]));
            cdSize = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(r[40..]));
            cdOffset = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(r[48..]));
        }
        if (!f.Contains(cdOffset, cdSize)) throw Bad(eocd, $"central directory [{cdOffset}, +{cdSize}) lies outside the file");

        var entries = new List<ZipEntry>();
        long pos = cdOffset;
        for (long i = 0; i < count; i++)
        {
            var h = At(pos, 46);
            if (BinaryPrimitives.ReadUInt32LittleEndian(h) != CentralSig) throw Bad(pos, $"central directory entry {i}: signature expected");
            ushort flags = BinaryPrimitives.ReadUInt16LittleEndian(h[8..]);
            ushort method = BinaryPrimitives.ReadUInt16LittleEndian(h[10..]);
            long csize = BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
            long usize = BinaryPrimitives.ReadUInt32LittleEndian(h[24..]);
            int nameLen = BinaryPrimitives.ReadUInt16LittleEndian(h[28..]);
            int extraLen = BinaryPrimitives.ReadUInt16LittleEndian(h[30..]);
            int commentLen = BinaryPrimitives.ReadUInt16LittleEndian(h[32..]);
            long local = BinaryPrimitives.ReadUInt32LittleEndian(h[42..]);
            string name = System.Text.Encoding.UTF8.GetString(At(pos + 46, nameLen));
            var extra = At(pos + 46 + nameLen, extraLen);
            // Zip64 extended information: the 64-bit values of the fields saturated at 0xFFFFFFFF, in this order.
            for (int x = 0; x + 4 <= extra.Length;)
            {
                ushort id = BinaryPrimitives.ReadUInt16LittleEndian(extra[x..]);
                int len = BinaryPrimitives.ReadUInt16LittleEndian(extra[(x + 2)..]);
                if (x + 4 + len > extra.Length) throw Bad(pos, $"entry '{name}': extra field overruns its {extraLen} bytes");
                if (id == 0x0001)
                {
                    var z = extra.Slice(x + 4, len);
                    int need = (usize == 0xFFFFFFFF ? 8 : 0) + (csize == 0xFFFFFFFF ? 8 : 0) + (local == 0xFFFFFFFF ? 8 : 0);
                    if (z.Length < need) throw Bad(pos, $"entry '{name}': zip64 extra field holds {z.Length} bytes; expected at least {need}");
                    if (usize == 0xFFFFFFFF) { usize = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(z)); z = z[8..]; }
                    if (csize == 0xFFFFFFFF) { csize = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(z)); z = z[8..]; }
                    if (local == 0xFFFFFFFF) local = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(z));
                }
                x += 4 + len;
            }
            var lh = At(local, 30);
            if (BinaryPrimitives.ReadUInt32LittleEndian(lh) != LocalSig) throw Bad(local, $"entry '{name}': local header signature expected");
            long data = local + 30 + BinaryPrimitives.ReadUInt16LittleEndian(lh[26..]) + BinaryPrimitives.ReadUInt16LittleEndian(lh[28..]);
            if (!f.Contains(data, csize)) throw Bad(local, $"entry '{name}': data [{data}, +{csize}) lies outside the file");
            if (method == ZipEntry.Stored && csize != usize) throw Bad(pos, $"entry '{name}': stored with compressed size {csize} ≠ size {usize}");
            entries.Add(new ZipEntry(name, method, flags, csize, usize, local, data));
            pos += 46 + nameLen + extraLen + commentLen;
        }
        return entries;
    }
}
