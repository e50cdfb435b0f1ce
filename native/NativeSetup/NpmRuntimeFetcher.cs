using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace LlamaAdapter.NativeSetup;

/// <summary>
/// Gets the pinned npm package into a cache outside the repository, checks its sha512 integrity,
/// and places the manifest's files in an output folder. Binaries never enter the repository.
/// </summary>
public sealed class NpmRuntimeFetcher(RuntimeManifest manifest, string manifestPath, string cacheRoot)
{
    public static string DefaultCacheRoot() =>
        Environment.GetEnvironmentVariable("LLAMA_ADAPTER_CACHE") is { Length: > 0 } c ? c
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } x ? x
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "llama-adapter");

    private string PackageDir => Path.Combine(cacheRoot, "npm", manifest.Package.Replace('@', '_').Replace('/', '_') + "-" + manifest.Version);

    /// <returns>How many files were copied (0 when the output was already up to date).</returns>
    public int PlaceInto(string outDir)
    {
        string extracted = EnsureExtracted();
        Directory.CreateDirectory(outDir);
        int copied = 0;
        foreach (var name in manifest.Files)
        {
            string src = Path.Combine(extracted, manifest.Root, name);
            if (!File.Exists(src))
                throw new SetupException(manifestPath, $"'{name}' is listed in 'files' but {manifest.Package}@{manifest.Version} has no {manifest.Root}/{name}");
            string dst = Path.Combine(outDir, name);
            var si = new FileInfo(src);
            var di = new FileInfo(dst);
            if (di.Exists && di.Length == si.Length && di.LastWriteTimeUtc >= si.LastWriteTimeUtc) continue;
            AtomicFile.Copy(src, dst);
            copied++;
        }
        return copied;
    }

    private string EnsureExtracted()
    {
        string dir = Path.Combine(PackageDir, "extracted");
        if (File.Exists(Path.Combine(dir, ".complete"))) return dir;

        string tgz = EnsureTarball();
        string tmp = dir + ".tmp-" + Environment.ProcessId;
        if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        Directory.CreateDirectory(tmp);
        using (var gz = new GZipStream(File.OpenRead(tgz), CompressionMode.Decompress))
            TarFile.ExtractToDirectory(gz, tmp, overwriteFiles: true);
        File.WriteAllText(Path.Combine(tmp, ".complete"), manifest.Integrity);
        try { Directory.Move(tmp, dir); }
        catch (IOException) when (File.Exists(Path.Combine(dir, ".complete"))) { Directory.Delete(tmp, true); } // a parallel build won
        return dir;
    }

    private string EnsureTarball()
    {
        Directory.CreateDirectory(PackageDir);
        string tgz = Path.Combine(PackageDir, "package.tgz");
        if (File.Exists(tgz) && Integrity(tgz) == manifest.Integrity) return tgz;

        string tmp = Path.Combine(PackageDir, "pack.tmp-" + Environment.ProcessId);
        Directory.CreateDirectory(tmp);
        try
        {
            RunNpm(["pack", $"{manifest.Package}@{manifest.Version}", "--silent", "--pack-destination", tmp]);
            var packed = Directory.GetFiles(tmp, "*.tgz");
            if (packed.Length != 1)
                throw new SetupException(manifestPath, $"npm pack {manifest.Package}@{manifest.Version} produced {packed.Length} tarballs in {tmp}, expected 1");
            string actual = Integrity(packed[0]);
            if (actual != manifest.Integrity)
                throw new SetupException(manifestPath,
                    $"integrity mismatch for {manifest.Package}@{manifest.Version}: the registry served {actual}, the manifest pins {manifest.Integrity}. " +
                    "Check the registry you use (npm config get registry); update the manifest only after checking the new version.");
            File.Move(packed[0], tgz, overwrite: true);
            return tgz;
        }
        finally { Directory.Delete(tmp, recursive: true); }
    }

    public static string Integrity(string file)
    {
        using var s = File.OpenRead(file);
        return "sha512-" + Convert.ToBase64String(SHA512.HashData(s));
    }

    private void RunNpm(IReadOnlyList<string> args)
    {
        var psi = new ProcessStartInfo("npm") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new SetupException(manifestPath,
                "npm was not found on PATH: install Node.js with npm (Debian: apt-get install -y npm) to fetch the pinned ggml runtime, " +
                "or set LLAMA_ADAPTER_GGML_DIR to a folder that already holds libggml-base.so, libggml*.so and libggml-cpu-*.so");
        }
        using (p)
        {
            var stderr = p.StandardError.ReadToEndAsync();
            p.StandardOutput.ReadToEnd();
            if (!p.WaitForExit(TimeSpan.FromMinutes(10)))
            {
                p.Kill(entireProcessTree: true);
                throw new SetupException(manifestPath, $"npm pack {manifest.Package}@{manifest.Version} did not finish in 10 minutes");
            }
            if (p.ExitCode != 0)
            {
                string firstLine = stderr.Result.Split('\n').FirstOrDefault(l => l.Contains("ERR", StringComparison.Ordinal)) ?? stderr.Result.Trim();
                throw new SetupException(manifestPath,
                    $"npm pack {manifest.Package}@{manifest.Version} failed (exit {p.ExitCode}): {firstLine.Trim()}. Is the npm registry reachable (npm config get registry)?");
            }
        }
    }
}
