using System.Globalization;

namespace LlamaAdapter.Core;

/// <summary>
/// The process's resident memory as Linux counts it (/proc/self/status): what <c>/usr/bin/time -v</c> reports as
/// "Maximum resident set size" is VmHWM. Pages of a memory-mapped input count too (RssFile) while they are mapped.
/// </summary>
public static class ProcessMemory
{
    /// <summary>
    /// Restarts the peak (VmHWM) at the current resident size by writing 5 to /proc/self/clear_refs (Linux ≥ 4.0),
    /// so one process can measure several runs' peaks in turn. False where that is not possible.
    /// </summary>
    public static bool TryResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException) { return false; }
    }

    /// <summary>Peak resident bytes since start or the last reset (VmHWM), or null off Linux.</summary>
    public static long? PeakBytes() => Read("VmHWM:");

    /// <summary>Resident bytes now: anonymous (heap, native buffers) and file-backed (mapped files).</summary>
    public static (long? Anon, long? File) CurrentBytes() => (Read("RssAnon:"), Read("RssFile:"));

    private static long? Read(string key)
    {
        if (!File.Exists("/proc/self/status")) return null;
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (!line.StartsWith(key, StringComparison.Ordinal)) continue;
            var parts = line[key.Length..].Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            return parts.Length == 2 && parts[1] == "kB" && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long kb)
                ? kb * 1024 : null;
        }
        return null;
    }
}
