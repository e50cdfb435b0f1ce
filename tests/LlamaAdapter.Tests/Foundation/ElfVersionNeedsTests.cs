using LlamaAdapter.NativeSetup;
using LlamaAdapter.Tests.Support;

namespace LlamaAdapter.Tests.Foundation;

public class ElfVersionNeedsTests
{
    private static string OutputCopy => Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

    [Fact]
    public void BuildOutput_NeedsOnlyLibStdCxxVersionsThisSystemHasOrWeakOnes()
    {
        Assert.True(File.Exists(OutputCopy), $"missing {OutputCopy}");
        string system = WeakenLibStdCxxNeeds.FindSystemLibrary() ?? throw new InvalidOperationException("no libstdc++.so.6 here");
        var defined = ElfVersionNeeds.ReadDefinitions(File.ReadAllBytes(system), system);
        Assert.Contains("GLIBCXX_3.4", defined);

        var needs = ElfVersionNeeds.ReadNeeds(File.ReadAllBytes(OutputCopy), OutputCopy)
            .Where(n => n.Library == WeakenLibStdCxxNeeds.Library).ToList();
        Assert.NotEmpty(needs);
        Assert.All(needs, n => Assert.True(n.Weak || defined.Contains(n.Version), $"{n.Version} is strong but {system} lacks it"));
        // Only what was missing was weakened.
        Assert.All(needs.Where(n => defined.Contains(n.Version)), n => Assert.False(n.Weak, $"{n.Version} weakened needlessly"));
    }

    [Fact]
    public void Weakening_IsIdempotentAndTouchesOnlyFlags()
    {
        var original = File.ReadAllBytes(OutputCopy);
        var pretendOld = new HashSet<string>(["GLIBCXX_3.4", "GLIBCXX_3.4.9"]); // a libstdc++ that lacks almost everything
        var once = (byte[])original.Clone();
        var changed = ElfVersionNeeds.WeakenMissing(once, OutputCopy, WeakenLibStdCxxNeeds.Library, pretendOld);
        Assert.NotEmpty(changed);
        Assert.DoesNotContain("GLIBCXX_3.4.9", changed);

        var twice = (byte[])once.Clone();
        Assert.Empty(ElfVersionNeeds.WeakenMissing(twice, OutputCopy, WeakenLibStdCxxNeeds.Library, pretendOld));
        Assert.Equal(once, twice);

        // Every differing byte is the low byte of a vna_flags field that gained VER_FLG_WEAK.
        var flagOffsets = ElfVersionNeeds.ReadNeeds(original, OutputCopy).Select(n => n.FlagsOffset).ToHashSet();
        for (int i = 0; i < original.Length; i++)
            if (original[i] != once[i])
            {
                Assert.Contains((long)i, flagOffsets);
                Assert.Equal(original[i] | ElfVersionNeeds.VerFlagWeak, once[i]);
            }
    }

    [Fact]
    public void NuGetCacheCopy_IsNeverModified()
    {
        string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string file = Path.Combine(cache, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(file), $"TorchSharp's package is not in the NuGet cache at {file}");
        Assert.All(ElfVersionNeeds.ReadNeeds(File.ReadAllBytes(file), file), n => Assert.False(n.Weak, $"{file}: {n.Version} is weak"));
    }

    [Fact]
    public void NotAnElf_IsAClearError()
    {
        var e = Assert.Throws<InvalidDataException>(() => ElfVersionNeeds.ReadNeeds("not an elf file at all, just text......................................."u8.ToArray(), "x.so"));
        Assert.Contains("x.so", e.Message);
        Assert.Contains("magic", e.Message);
    }

    [Fact]
    public void Manifest_PinsAnIntegrityAndTheRuntimeFilesArePlaced()
    {
        var m = RuntimeManifest.Load(Path.Combine(RepoPaths.Root, "native", "ggml-runtime.json"));
        Assert.Equal("@node-llama-cpp/linux-x64", m.Package);
        Assert.Matches("^sha512-[A-Za-z0-9+/]{86}==$", m.Integrity);
        foreach (var f in m.Files)
            Assert.True(File.Exists(Path.Combine(AppContext.BaseDirectory, "native", f)), $"{f} not placed in the output's native folder");
    }
}
