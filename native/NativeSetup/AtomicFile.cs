namespace LlamaAdapter.NativeSetup;

internal static class AtomicFile
{
    /// <summary>
    /// Writes beside the target and renames over it: a reader never sees half a file, and a target that
    /// is a hard link into a package cache is replaced rather than edited through the link.
    /// </summary>
    public static void Replace(string path, byte[] contents)
    {
        string tmp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            File.WriteAllBytes(tmp, contents);
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(tmp, File.GetUnixFileMode(path));
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    public static void Copy(string source, string destination)
    {
        string tmp = destination + ".tmp-" + Environment.ProcessId;
        try
        {
            File.Copy(source, tmp, overwrite: true);
            File.Move(tmp, destination, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
