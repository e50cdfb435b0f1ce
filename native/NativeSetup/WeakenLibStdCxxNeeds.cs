using System.Diagnostics;

namespace LlamaAdapter.NativeSetup;

/// <summary>
/// The build step for TorchSharp on older distributions: in a copied (never the NuGet cache's)
/// libLibTorchSharp.so, weakens the libstdc++ versions the system's libstdc++.so.6 does not define.
/// </summary>
public static class WeakenLibStdCxxNeeds
{
    public const string Library = "libstdc++.so.6";

    /// <returns>The versions weakened in <paramref name="file"/>; empty when it already loads here.</returns>
    public static IReadOnlyList<string> Apply(string file, string systemLibStdCxx)
    {
        var available = ElfVersionNeeds.ReadDefinitions(File.ReadAllBytes(systemLibStdCxx), systemLibStdCxx);
        var bytes = File.ReadAllBytes(file);
        var changed = ElfVersionNeeds.WeakenMissing(bytes, file, Library, available);
        if (changed.Count > 0) AtomicFile.Replace(file, bytes);
        return changed;
    }

    /// <summary>The libstdc++.so.6 the dynamic loader would pick: LD_LIBRARY_PATH first, then ldconfig's cache.</summary>
    public static string? FindSystemLibrary()
    {
        var dirs = (Environment.GetEnvironmentVariable("LD_LIBRARY_PATH") ?? "")
            .Split(':', StringSplitOptions.RemoveEmptyEntries).ToList();
        var cached = FromLdconfigCache();
        if (cached != null) dirs.Add(Path.GetDirectoryName(cached)!);
        dirs.AddRange(["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib"]);
        return dirs.Select(d => Path.Combine(d, Library)).FirstOrDefault(File.Exists);
    }

    private static string? FromLdconfigCache()
    {
        foreach (var ldconfig in new[] { "/sbin/ldconfig", "/usr/sbin/ldconfig" })
        {
            if (!File.Exists(ldconfig)) continue;
            try
            {
                using var p = Process.Start(new ProcessStartInfo(ldconfig, "-p") { RedirectStandardOutput = true, UseShellExecute = false })!;
                string output = p.StandardOutput.ReadToEnd();
                p.WaitForExit();
                // "	libstdc++.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libstdc++.so.6"
                return output.Split('\n')
                    .Where(l => l.TrimStart().StartsWith(Library + " ", StringComparison.Ordinal) && l.Contains("x86-64"))
                    .Select(l => l[(l.IndexOf("=> ", StringComparison.Ordinal) + 3)..].Trim())
                    .FirstOrDefault(File.Exists);
            }
            catch (System.ComponentModel.Win32Exception) { }
        }
        return null;
    }
}
