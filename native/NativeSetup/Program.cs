using LlamaAdapter.NativeSetup;

// Usage (from NativeRuntime.targets):
//   ggml MANIFEST OUTDIR          fetch the pinned ggml runtime (cached) and place its files in OUTDIR
//   weaken-libstdcxx FILE...      weaken libstdc++ version needs the system libstdc++ lacks
try
{
    switch (args)
    {
        case ["ggml", var manifestPath, var outDir]:
        {
            var manifest = RuntimeManifest.Load(manifestPath);
            int n = new NpmRuntimeFetcher(manifest, manifestPath, NpmRuntimeFetcher.DefaultCacheRoot()).PlaceInto(outDir);
            if (n > 0) Console.WriteLine($"ggml runtime {manifest.Package}@{manifest.Version}: {n} file(s) placed in {outDir}");
            return 0;
        }
        case ["weaken-libstdcxx", .. var files]:
        {
            string? system = WeakenLibStdCxxNeeds.FindSystemLibrary();
            if (system is null)
            {
                Console.WriteLine("warning LA0002: no libstdc++.so.6 found on this system; TorchSharp's native library left unchanged");
                return 0;
            }
            foreach (var f in files)
            {
                var changed = WeakenLibStdCxxNeeds.Apply(f, system);
                if (changed.Count > 0)
                    Console.WriteLine($"{f}: marked {string.Join(", ", changed)} weak ({system} does not define them)");
            }
            return 0;
        }
        default:
            Console.Error.WriteLine("usage: LlamaAdapter.NativeSetup ggml MANIFEST OUTDIR | weaken-libstdcxx FILE...");
            return 2;
    }
}
catch (SetupException e)
{
    Console.Error.WriteLine(e.ToString());
    return 1;
}
catch (InvalidDataException e)
{
    Console.Error.WriteLine($"NativeSetup : error LA0003: {e.Message}");
    return 1;
}
