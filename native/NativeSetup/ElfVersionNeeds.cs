using System.Buffers.Binary;
using System.Text;

namespace LlamaAdapter.NativeSetup;

/// <summary>One symbol-version requirement of an ELF file (an Elf64_Vernaux entry of .gnu.version_r).</summary>
public sealed record VersionNeed(string Library, string Version, bool Weak, long FlagsOffset);

/// <summary>
/// Reads and edits the version requirements (.gnu.version_r) and definitions (.gnu.version_d) of a
/// little-endian ELF64 file. Why: TorchSharp's libLibTorchSharp.so asks for GLIBCXX_3.4.32 for a
/// single symbol nothing calls; marking that requirement VER_FLG_WEAK lets ld.so load the library
/// on a libstdc++ that stops earlier (Debian 12: 3.4.30), and binding of every other symbol is unchanged.
/// </summary>
public static class ElfVersionNeeds
{
    public const ushort VerFlagWeak = 0x2;
    private const uint ShtGnuVerdef = 0x6ffffffd;
    private const uint ShtGnuVerneed = 0x6ffffffe;

    public static IReadOnlyList<VersionNeed> ReadNeeds(byte[] elf, string path)
    {
        var needs = new List<VersionNeed>();
        foreach (var sec in Sections(elf, path).Where(s => s.Type == ShtGnuVerneed))
        {
            var strtab = SectionAt(elf, path, sec.Link);
            long entry = sec.Offset;
            for (uint i = 0; i < sec.Info; i++)
            {
                // Elf64_Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32
                ushort count = U16(elf, path, entry + 2);
                string file = Str(elf, path, strtab, U32(elf, path, entry + 4));
                long aux = entry + U32(elf, path, entry + 8);
                for (int j = 0; j < count; j++)
                {
                    // Elf64_Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32
                    ushort flags = U16(elf, path, aux + 4);
                    string name = Str(elf, path, strtab, U32(elf, path, aux + 8));
                    needs.Add(new VersionNeed(file, name, (flags & VerFlagWeak) != 0, aux + 4));
                    uint nextAux = U32(elf, path, aux + 12);
                    if (nextAux == 0) break;
                    aux += nextAux;
                }
                uint next = U32(elf, path, entry + 12);
                if (next == 0) break;
                entry += next;
            }
        }
        return needs;
    }

    /// <summary>The version names a shared library defines (its .gnu.version_d), e.g. GLIBCXX_3.4.30.</summary>
    public static IReadOnlySet<string> ReadDefinitions(byte[] elf, string path)
    {
        var defs = new HashSet<string>(StringComparer.Ordinal);
        foreach (var sec in Sections(elf, path).Where(s => s.Type == ShtGnuVerdef))
        {
            var strtab = SectionAt(elf, path, sec.Link);
            long entry = sec.Offset;
            for (uint i = 0; i < sec.Info; i++)
            {
                // Elf64_Verdef: vd_version u16, vd_flags u16, vd_ndx u16, vd_cnt u16, vd_hash u32, vd_aux u32, vd_next u32
                ushort count = U16(elf, path, entry + 6);
                long aux = entry + U32(elf, path, entry + 12);
                if (count > 0) defs.Add(Str(elf, path, strtab, U32(elf, path, aux)));
                uint next = U32(elf, path, entry + 16);
                if (next == 0) break;
                entry += next;
            }
        }
        return defs;
    }

    /// <summary>
    /// Marks weak every requirement on <paramref name="library"/> whose version <paramref name="available"/>
    /// lacks. Returns the versions changed (empty when nothing was needed, so the call is idempotent).
    /// </summary>
    public static IReadOnlyList<string> WeakenMissing(byte[] elf, string path, string library, IReadOnlySet<string> available)
    {
        var changed = new List<string>();
        foreach (var need in ReadNeeds(elf, path))
        {
            if (need.Library != library || need.Weak || available.Contains(need.Version)) continue;
            ushort flags = U16(elf, path, need.FlagsOffset);
            BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan((int)need.FlagsOffset, 2), (ushort)(flags | VerFlagWeak));
            changed.Add(need.Version);
        }
        return changed;
    }

    private readonly record struct Section(uint Type, long Offset, long Size, uint Link, uint Info);

    private static List<Section> Sections(byte[] elf, string path)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException($"{path}: not an ELF file (bad magic at byte 0)");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException($"{path}: only little-endian ELF64 is supported (EI_CLASS={elf[4]}, EI_DATA={elf[5]} at byte 4)");
        long shoff = (long)U64(elf, path, 0x28);
        ushort shentsize = U16(elf, path, 0x3A);
        ushort shnum = U16(elf, path, 0x3C);
        if (shentsize != 64) throw new InvalidDataException($"{path}: e_shentsize is {shentsize}, expected 64 (byte 0x3A)");
        var list = new List<Section>(shnum);
        for (int i = 0; i < shnum; i++)
        {
            long h = shoff + i * 64L;
            var s = new Section(U32(elf, path, h + 4), (long)U64(elf, path, h + 0x18), (long)U64(elf, path, h + 0x20),
                                U32(elf, path, h + 0x28), U32(elf, path, h + 0x2C));
            if (s.Type != 8 /* SHT_NOBITS */ && (s.Offset < 0 || s.Offset + s.Size > elf.Length))
                throw new InvalidDataException($"{path}: section {i} [{s.Offset}, +{s.Size}) lies outside the file ({elf.Length} bytes)");
            list.Add(s);
        }
        return list;
    }

    private static Section SectionAt(byte[] elf, string path, uint index)
    {
        var all = Sections(elf, path);
        if (index >= all.Count) throw new InvalidDataException($"{path}: section link {index} out of range ({all.Count} sections)");
        return all[(int)index];
    }

    private static string Str(byte[] elf, string path, Section strtab, uint offset)
    {
        long start = strtab.Offset + offset;
        if (offset >= strtab.Size) throw new InvalidDataException($"{path}: string offset {offset} beyond its table ({strtab.Size} bytes)");
        int end = Array.IndexOf(elf, (byte)0, (int)start, (int)(strtab.Offset + strtab.Size - start));
        if (end < 0) throw new InvalidDataException($"{path}: unterminated string at byte {start}");
        return Encoding.ASCII.GetString(elf, (int)start, end - (int)start);
    }

    private static ReadOnlySpan<byte> At(byte[] elf, string path, long offset, int size) =>
        offset >= 0 && offset + size <= elf.Length
            ? elf.AsSpan((int)offset, size)
            : throw new InvalidDataException($"{path}: read of {size} bytes at byte {offset} is past the end ({elf.Length} bytes)");

    private static ushort U16(byte[] e, string p, long o) => BinaryPrimitives.ReadUInt16LittleEndian(At(e, p, o, 2));
    private static uint U32(byte[] e, string p, long o) => BinaryPrimitives.ReadUInt32LittleEndian(At(e, p, o, 4));
    private static ulong U64(byte[] e, string p, long o) => BinaryPrimitives.ReadUInt64LittleEndian(At(e, p, o, 8));
}
