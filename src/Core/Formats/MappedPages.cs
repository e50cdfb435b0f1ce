using System.Runtime.InteropServices;

namespace LlamaAdapter.Core.Formats;

/// <summary>
/// Gives back the resident pages of a read-only file mapping once they have been read. They stay in the page cache
/// (a later read refaults them, unchanged), but no longer count in the process's resident set: converting a 13 GB
/// checkpoint through a mapping otherwise ends with the whole checkpoint "resident", although none of it is heap.
/// </summary>
internal static unsafe partial class MappedPages
{
    private const int MadvDontNeed = 4;   // MADV_DONTNEED, <sys/mman.h> on Linux
    private static readonly long PageSize = Environment.SystemPageSize;

    /// <summary>Releases the pages overlapping [start, start + length); a no-op off Linux or when the kernel refuses.</summary>
    public static void Release(byte* start, long length)
    {
        if (!OperatingSystem.IsLinux() || length <= 0) return;
        long first = (long)start / PageSize * PageSize;
        long end = ((long)start + length + PageSize - 1) / PageSize * PageSize;
        _ = madvise((nint)first, (nuint)(end - first), MadvDontNeed);   // advice only: a failure changes nothing we rely on
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int madvise(nint address, nuint length, int advice);
}
