using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Tests.Formats;

public class GgufWriterTests
{
    private static readonly GgufTensorSpec[] Two = [new("a", GgmlType.F32, [3, 2]), new("b", GgmlType.Q8_0, [32])];

    [Fact]
    public void StreamCallback_WritesChunkByChunk()
    {
        using var dir = new TempDir();
        string path = dir.File("m.gguf");
        float[] a = [1, 2, 3, 4, 5, 6];
        using (var w = GgufWriter.Create(path, new GgufMetadata(), Two))
        {
            w.WriteTensor("a", s =>
            {
                for (int row = 0; row < 2; row++)   // one row of 3 floats at a time
                    s.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan(row * 3, 3)));
            });
            w.WriteTensor("b", s => { for (int i = 0; i < 34; i++) s.WriteByte((byte)i); });
            w.Commit();
        }
        using var r = GgufReader.Open(path);
        Assert.Equal(a, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(r.Span("a")).ToArray());
        Assert.Equal(Enumerable.Range(0, 34).Select(i => (byte)i), r.Span("b").ToArray());
        Assert.Equal(32, r.Tensor("b").Offset);   // 24 bytes of "a" padded to 32
    }

    [Fact]
    public void DisposeWithoutCommit_LeavesNoFile_AndKeepsAnOldOne()
    {
        using var dir = new TempDir();
        string path = dir.File("m.gguf");
        File.WriteAllText(path, "old");
        using (var w = GgufWriter.Create(path, new GgufMetadata(), Two))
            w.WriteTensor("a", new byte[24]);
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Equal([path], Directory.GetFiles(dir.Path));  // no temp file left behind

        File.Delete(path);
        using (GgufWriter.Create(path, new GgufMetadata(), Two)) { }
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void Commit_ReplacesAnExistingFile()
    {
        using var dir = new TempDir();
        string path = dir.File("m.gguf");
        File.WriteAllText(path, "old");
        GgufFixtures.Write(path, new GgufMetadata(), Two);
        using var r = GgufReader.Open(path);
        Assert.Equal(2, r.Tensors.Count);
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void WrongSizesAndOrder_AreRefused_AndNothingIsCommitted()
    {
        using var dir = new TempDir();
        string path = dir.File("m.gguf");
        using (var w = GgufWriter.Create(path, new GgufMetadata(), Two))
        {
            Assert.Throws<ArgumentException>(() => w.WriteTensor("a", new byte[23]));
            Assert.Contains("expected 'a' next", Assert.Throws<InvalidOperationException>(() => w.WriteTensor("b", new byte[34])).Message);
            w.WriteTensor("a", new byte[24]);
            Assert.Contains("not written", Assert.Throws<InvalidOperationException>(w.Commit).Message);
            var over = Assert.Throws<InvalidOperationException>(() => w.WriteTensor("b", s => s.Write(new byte[35])));
            Assert.Contains("more", over.Message);
            Assert.Contains("failed part-way", Assert.Throws<InvalidOperationException>(w.Commit).Message);
        }
        Assert.False(File.Exists(path));
        using (var w = GgufWriter.Create(path, new GgufMetadata(), Two))
        {
            w.WriteTensor("a", new byte[24]);
            var under = Assert.Throws<InvalidOperationException>(() => w.WriteTensor("b", s => s.Write(new byte[33])));
            Assert.Contains("produced 33", under.Message);
        }
        Assert.Empty(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void BadDeclarations_AreRefusedBeforeAnythingIsWritten()
    {
        using var dir = new TempDir();
        string path = dir.File("m.gguf");
        void Refused(GgufMetadata m, GgufTensorSpec[] specs, string part)
        {
            var e = Assert.Throws<ArgumentException>(() => GgufWriter.Create(path, m, specs).Dispose());
            Assert.Contains(part, e.Message);
            Assert.Empty(Directory.GetFiles(dir.Path));
        }
        var badAlign = new GgufMetadata();
        badAlign.Set(GgufLayout.AlignmentKey, GgufValue.Of(48u));
        Refused(badAlign, [], "power of two");
        var wrongType = new GgufMetadata();
        wrongType.Set(GgufLayout.AlignmentKey, GgufValue.Of(64));
        Refused(wrongType, [], "UInt32");
        var surrogate = new GgufMetadata();
        surrogate.Set("k", GgufValue.Of("\ud800"));
        Refused(surrogate, [], "lone surrogate");
        Refused(new GgufMetadata(), [new("x", GgmlType.Q4_0, [33])], "block size 32");
        Refused(new GgufMetadata(), [new("x", GgmlType.F32, [1, 2, 3, 4, 5])], "1 to 4 dimensions");
        Refused(new GgufMetadata(), [new("x", GgmlType.F32, [])], "1 to 4 dimensions");
        Refused(new GgufMetadata(), [new("x", GgmlType.F32, [-1])], "ne[0] >= 0");
        Refused(new GgufMetadata(), [new("x", GgmlType.F32, [long.MaxValue, 2])], "overflows");
        Refused(new GgufMetadata(), [new("x", (GgmlType)4, [4])], "known ggml type");
        Refused(new GgufMetadata(), [new("x", GgmlType.F32, [1]), new("x", GgmlType.F32, [1])], "duplicate");
        Refused(new GgufMetadata(), [new(new string('n', 64), GgmlType.F32, [1])], "at most 63");
        var deep = GgufValue.Array(new[] { 1 });
        for (int i = 0; i < GgufHeaderParser.MaxArrayNesting; i++) deep = GgufValue.ArrayOfArrays([deep]);
        var tooDeep = new GgufMetadata();
        tooDeep.Set("deep", deep);
        Refused(tooDeep, [], "nests arrays deeper than 8");
    }

    [Fact]
    public void WriteHeader_AloneGivesTheLayout_ThatCreateWrites()
    {
        using var dir = new TempDir();
        string full = dir.File("full.gguf"), sparse = dir.File("sparse.gguf");
        var metadata = GgufFixtures.AllValueTypes(64);
        GgufFixtures.Write(full, metadata, GgufFixtures.MixedTensors());
        GgufFileLayout layout;
        using (var f = new FileStream(sparse, FileMode.CreateNew, FileAccess.Write))
        {
            layout = GgufWriter.WriteHeader(f, metadata, GgufFixtures.MixedTensors());
            Assert.Equal(layout.DataOffset, f.Position);
            f.SetLength(layout.FileLength);
        }
        Assert.Equal(new FileInfo(full).Length, layout.FileLength);
        Assert.Equal(File.ReadAllBytes(full)[..(int)layout.DataOffset], File.ReadAllBytes(sparse)[..(int)layout.DataOffset]);
        using var r = GgufReader.Open(sparse);
        Assert.Equal(layout.Tensors, r.Tensors);
        Assert.Equal(layout.DataOffset, r.DataOffset);
        using var ggml = GgmlGgufFile.TryOpen(sparse);
        Assert.Equal(layout.DataOffset, ggml!.DataOffset);
    }
}
