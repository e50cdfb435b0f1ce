using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Tests.Formats;

public class GgufRoundTripTests
{
    [Theory]
    [InlineData(null)]
    [InlineData(64u)]
    [InlineData(1u)]
    public void WrittenFile_ReadsBackExactly(uint? alignment)
    {
        using var dir = new TempDir();
        string path = dir.File("m.gguf");
        var metadata = GgufFixtures.AllValueTypes(alignment);
        IReadOnlyList<GgufTensorInfo> planned;
        long dataOffset;
        using (var w = GgufWriter.Create(path, metadata, GgufFixtures.MixedTensors()))
        {
            planned = w.Tensors;
            dataOffset = w.DataOffset;
            foreach (var t in w.Tensors) w.WriteTensor(t.Name, GgufFixtures.BytesFor(t));
            w.Commit();
        }

        using var r = GgufReader.Open(path);
        Assert.Equal(3u, r.Version);
        Assert.Equal(alignment ?? 32, r.Alignment);
        Assert.Equal(dataOffset, r.DataOffset);
        Assert.Equal(0, r.DataOffset % r.Alignment);
        Assert.Equal(metadata.Keys, r.Metadata.Keys);  // order kept
        foreach (var (key, value) in metadata) Assert.Equal(value, r.Metadata[key]);
        Assert.Equal(planned, r.Tensors);
        Assert.Equal(GgufFixtures.MixedTensors().Select(s => s.Name), r.Tensors.Select(t => t.Name));
        foreach (var t in r.Tensors)
        {
            Assert.Equal(0, t.Offset % r.Alignment);
            Assert.Equal(GgufFixtures.BytesFor(t), r.Span(t).ToArray());
            Assert.Equal(t, r.Tensor(t.Name));
        }
        Assert.Equal(r.FileLength, new FileInfo(path).Length);
        Assert.Equal(GgufLayout.Align(r.Tensors[^1].FileOffset + r.Tensors[^1].ByteSize, r.Alignment), r.FileLength); // padded like ggml
    }

    [Fact]
    public void Shapes_AreGgmlNeOrder_AndSizesFollowBlocks()
    {
        using var dir = new TempDir();
        string path = dir.File("m.gguf");
        GgufFixtures.Write(path, new GgufMetadata(), GgufFixtures.MixedTensors());
        using var r = GgufReader.Open(path);
        var q8 = r.Tensor("blk.0.attn_q.weight");
        Assert.Equal([64L, 3], q8.Shape);
        Assert.Equal(2 * 34 * 3, q8.ByteSize);      // 64 / 32 blocks of 34 bytes per row
        Assert.Equal(144 * 2, r.Tensor("blk.0.ffn_up.weight").ByteSize);
        Assert.Equal(12 * 4, r.Tensor("adapter.gate").ByteSize);
        Assert.Equal(12, r.Tensor("adapter.gate").ElementCount);
    }

    [Fact]
    public void NestedArrays_RoundTrip()
    {
        using var dir = new TempDir();
        string path = dir.File("n.gguf");
        var metadata = GgufFixtures.Nested();
        GgufFixtures.Write(path, metadata, []);
        using var r = GgufReader.Open(path);
        Assert.Equal(metadata.Count, r.Metadata.Count);
        foreach (var (key, value) in metadata) Assert.Equal(value, r.Metadata[key]);
        var inner = r.Metadata["n.mixed"].AsArray<GgufValue>();
        Assert.Equal(["a", "b", "c"], inner[1].AsArray<string>());
        Assert.Empty(r.Tensors);
    }

    [Fact]
    public void MissingTensor_IsBadInputNamingIt()
    {
        using var dir = new TempDir();
        string path = dir.File("m.gguf");
        GgufFixtures.Write(path, new GgufMetadata(), GgufFixtures.MixedTensors());
        using var r = GgufReader.Open(path);
        Assert.False(r.TryGetTensor("nope", out _));
        var e = Assert.Throws<GgufFormatException>(() => r.Tensor("nope"));
        Assert.Equal($"{path}: tensor 'nope': expected in the file, but it is missing", e.Message);
    }

    [Fact]
    public void TensorOver2GiB_HasAPointerView_AndRefusesASpan()
    {
        using var dir = new TempDir();
        string path = dir.File("big.gguf");
        long big = 3L << 30;  // 3 GiB of I8
        byte[] header = new RawGguf().Header(tensors: 1, kvs: 0).Tensor("big", GgmlType.I8, 0, 1 << 30, 3).PadTo(32).ToArray();
        using (var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
        {
            f.Write(header);
            f.WriteByte(7);
            f.SetLength(header.Length + big);   // sparse: never writes the 3 GiB
            f.Position = header.Length + big - 1;
            f.WriteByte(9);
        }
        using var r = GgufReader.Open(path);
        var t = r.Tensor("big");
        Assert.Equal(big, t.ByteSize);
        Assert.Equal(header.Length, t.FileOffset);
        var view = r.Data(t);
        Assert.Equal(big, view.Length);
        unsafe
        {
            Assert.Equal(7, ((byte*)view.Pointer)[0]);
            Assert.Equal(0, ((byte*)view.Pointer)[big / 2]);
            Assert.Equal(9, ((byte*)view.Pointer)[big - 1]);
        }
        var e = Assert.Throws<InvalidOperationException>(() => r.Span(t));
        Assert.Contains("'big'", e.Message);
        Assert.Contains("Pointer", e.Message);
    }
}
