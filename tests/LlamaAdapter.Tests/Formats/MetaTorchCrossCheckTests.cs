using LlamaAdapter.Core.Formats.Meta;

namespace LlamaAdapter.Tests.Formats;

/// <summary>A fact that runs only where tools/make_meta_fixture.py (real torch) has written its output.</summary>
public sealed class MetaTorchFixtureFactAttribute : FactAttribute
{
    public const string Variable = "LLAMA_ADAPTER_META_FIXTURE";

    public MetaTorchFixtureFactAttribute()
    {
        if (Environment.GetEnvironmentVariable(Variable) is not { Length: > 0 } d || !File.Exists(Path.Combine(d, "consolidated.00.pth")))
            Skip = $"{Variable} is not set to a directory written by tools/make_meta_fixture.py (needs torch)";
    }
}

/// <summary>Checks against real torch.save output; skipped where torch was not available to write it.</summary>
public sealed class MetaTorchCrossCheckTests
{
    private static string Dir => Environment.GetEnvironmentVariable(MetaTorchFixtureFactAttribute.Variable)!;

    [MetaTorchFixtureFact]
    public void OurPickleEqualsTorchSaveBytes()
    {
        byte[] torchPkl = File.ReadAllBytes(Path.Combine(Dir, "data.pkl"));
        byte[] ours = MetaFixture.Checkpoint();
        using var z = new System.IO.Compression.ZipArchive(new MemoryStream(ours));
        using var ms = new MemoryStream();
        z.GetEntry("consolidated/data.pkl")!.Open().CopyTo(ms);
        Assert.Equal(torchPkl, ms.ToArray());
    }

    [MetaTorchFixtureFact]
    public void ReaderReadsTorchSaveOutput()
    {
        using var m = MetaCheckpoint.Open(Dir);
        var expected = MetaFixture.Expected();
        foreach (var t in MetaFixture.Tensors)
        {
            Assert.Equal(t.Shape, m[t.Name].Shape);
            Assert.Equal(t.DType, m[t.Name].DType);
            Assert.Equal(expected[t.Name], m.GetBytes(t.Name).ToArray());
            Assert.True(m.Shards[0].IsZeroCopy(t.Name));
        }
        Assert.Equal(24, m.Config.FfnDim);
    }
}
