using System.Reflection;
using System.Runtime.InteropServices;

namespace LlamaAdapter.Core.Native;

/// <summary>
/// Finds the ggml runtime: <c>LLAMA_ADAPTER_GGML_DIR</c> when set (e.g. a CUDA build), else the pinned
/// CPU runtime the build placed in <c>&lt;app&gt;/native</c>. Maps our import names to the files there,
/// whose names carry versions (libggml.v0.5.0.so) and so are not found by the default probing.
/// </summary>
public static class GgmlLibrary
{
    public const string EnvironmentVariable = "LLAMA_ADAPTER_GGML_DIR";
    internal const string Base = "ggml-base";
    internal const string Registry = "ggml";
    internal const string Llama = "llama";

    private static readonly Lock Gate = new();
    private static bool _resolverSet;
    private static bool _backendsLoaded;

    public static string Directory =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } d ? Path.GetFullPath(d)
        : Path.Combine(AppContext.BaseDirectory, "native");

    /// <summary>Installs the import resolver for this assembly; every native entry point calls it first.</summary>
    internal static void EnsureResolver()
    {
        lock (Gate)
        {
            if (_resolverSet) return;
            NativeLibrary.SetDllImportResolver(typeof(GgmlLibrary).Assembly, Resolve);
            _resolverSet = true;
            GgmlLog.Install(); // re-enters EnsureResolver through GgmlApi's static constructor: the flag is already set
        }
    }

    /// <summary>
    /// Loads every backend in <see cref="Directory"/> (ggml picks the best CPU variant for this processor by
    /// its own scoring, and CUDA where libggml-cuda is present). Idempotent.
    /// </summary>
    public static void LoadBackends()
    {
        EnsureResolver();
        lock (Gate)
        {
            if (_backendsLoaded) return;
            GgmlBackendApi.ggml_backend_load_all_from_path(Directory);
            if (GgmlBackendApi.ggml_backend_dev_count() == 0)
                throw new GgmlException($"no ggml backend could be loaded from {Directory}: expected libggml-cpu-*.so there " +
                                        $"(rebuild to place the pinned runtime, or point {EnvironmentVariable} at a ggml build)");
            _backendsLoaded = true;
        }
    }

    /// <summary>The devices the loaded backends offer, in ggml's order.</summary>
    public static IReadOnlyList<GgmlDevice> Devices()
    {
        LoadBackends();
        var list = new List<GgmlDevice>();
        for (nuint i = 0; i < GgmlBackendApi.ggml_backend_dev_count(); i++)
        {
            IntPtr dev = GgmlBackendApi.ggml_backend_dev_get(i);
            list.Add(new GgmlDevice(Marshal.PtrToStringUTF8(GgmlApi.ggml_backend_dev_name(dev)) ?? "",
                                    Marshal.PtrToStringUTF8(GgmlApi.ggml_backend_dev_description(dev)) ?? "",
                                    GgmlApi.ggml_backend_dev_type(dev)));
        }
        return list;
    }

    public static string PathOf(string importName)
    {
        string dir = Directory;
        string? file = importName switch
        {
            Base => Existing(dir, "libggml-base.so"),
            Registry => Existing(dir, "libggml.so") ?? Versioned(dir, "libggml."),
            Llama => Existing(dir, "libllama.so") ?? Versioned(dir, "libllama."),
            _ => null,
        };
        return file ?? throw new DllNotFoundException(
            $"ggml runtime library '{importName}' not found in {dir}. Build the project (it places the pinned runtime in <app>/native) " +
            $"or set {EnvironmentVariable} to a folder holding libggml-base.so, libggml*.so, libggml-cpu-*.so and libllama*.so.");
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path) =>
        name is Base or Registry or Llama ? NativeLibrary.Load(PathOf(name)) : IntPtr.Zero;

    private static string? Existing(string dir, string file) => File.Exists(Path.Combine(dir, file)) ? Path.Combine(dir, file) : null;

    // libggml.v0.5.0.so, libggml.cuda.v0.5.0.so: exactly one such file is expected in a runtime folder.
    private static string? Versioned(string dir, string prefix) =>
        System.IO.Directory.Exists(dir)
            ? System.IO.Directory.GetFiles(dir, prefix + "*.so").Order(StringComparer.Ordinal).FirstOrDefault()
            : null;
}

public sealed record GgmlDevice(string Name, string Description, GgmlDeviceType Type);

public sealed class GgmlException(string message) : Exception(message);
