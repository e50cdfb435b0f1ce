using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Tests.Formats;

/// <summary>Files our writer produces, as ggml's own gguf_init_from_file reads them, against our reader.</summary>
public class GgufGgmlParityTests
{
    [Theory]
    [InlineData(null)]
    [InlineData(64u)]
    [InlineData(8u)]
    public void Ggml_ReadsOurFile_AsOurReaderDoes(uint? alignment)
    {
        using var dir = new TempDir();
        string path = dir.File("m.gguf");
        var metadata = GgufFixtures.AllValueTypes(alignment);
        GgufFixtures.Write(path, metadata, GgufFixtures.MixedTensors());

        using var ours = GgufReader.Open(path);
        using var ggml = GgmlGgufFile.TryOpen(path, withTensors: true, loadData: true);
        Assert.NotNull(ggml);

        Assert.Equal(3u, ggml.Version);
        Assert.Equal(ours.Alignment, ggml.Alignment);
        Assert.Equal(alignment ?? 32, ggml.Alignment);
        Assert.Equal(ours.DataOffset, ggml.DataOffset);

        // Every key, in order, with its type and value (NaN and -0.0 compared bitwise through float.Equals).
        var theirs = ggml.ReadMetadata();
        Assert.Equal(ours.Metadata.Keys, theirs.Keys);
        foreach (var (key, value) in ours.Metadata)
        {
            Assert.Equal(value.Type, theirs[key].Type);
            Assert.Equal(value.ElementType, theirs[key].ElementType);
            Assert.Equal(value, theirs[key]);
        }
        Assert.True(float.IsNaN((float)theirs["t.f32.nan"].Raw));
        Assert.True(float.IsNegative((float)theirs["t.f32.neg0"].Raw));

        var tensors = ggml.ReadTensors();
        Assert.Equal(ours.Tensors.Count, tensors.Count);
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = ours.Tensors[i];
            Assert.Equal((t.Name, t.Type, t.Offset, t.ByteSize), tensors[i]);
            Assert.Equal(t.Shape, ggml.TensorShape(t.Name).Concat(Enumerable.Repeat(1L, t.Shape.Count - ggml.TensorShape(t.Name).Length)));
            Assert.True(ggml.TensorData(t.Name).SequenceEqual(ours.Span(t)), $"bytes of {t.Name}");
            Assert.True(ours.Span(t).SequenceEqual(GgufFixtures.BytesFor(t)));
        }
    }

    [Fact]
    public void Ggml_ShapesKeepTrailingOnes()
    {
        // ggml_n_dims drops trailing 1s ([5, 1, 3] stays 3-d, [64, 10] 2-d); the ne it holds are ours exactly.
        using var dir = new TempDir();
        string path = dir.File("m.gguf");
        GgufFixtures.Write(path, new GgufMetadata(), GgufFixtures.MixedTensors());
        using var ggml = GgmlGgufFile.TryOpen(path, withTensors: true);
        Assert.NotNull(ggml);
        Assert.Equal([5L, 1, 3], ggml.TensorShape("pos"));
        Assert.Equal([1L, 3, 2, 2], ggml.TensorShape("adapter.gate"));
        Assert.Equal([256L], ggml.TensorShape("output.weight"));  // [256, 1]: n_dims 1 to ggml
    }

    [Fact]
    public void NestedArrays_AreReadByUs_AndRefusedByGgml()
    {
        // GGUF allows arrays of arrays, but ggml's gguf.cpp rejects a GGUF_TYPE_ARRAY element type
        // ("key '...' has invalid GGUF type 9"), so a file meant for llama.cpp must not use them.
        using var dir = new TempDir();
        string path = dir.File("n.gguf");
        GgufFixtures.Write(path, GgufFixtures.Nested(), GgufFixtures.MixedTensors());
        using (var ours = GgufReader.Open(path))
            Assert.Equal(GgufFixtures.Nested()["n.deep"], ours.Metadata["n.deep"]);
        Assert.Null(GgmlGgufFile.TryOpen(path));
    }

    [Fact]
    public void FilesOurReaderRefuses_GgmlRefusesToo()
    {
        // A few of the malformed files, as a check that our refusals match the reference's where it has the check.
        using var dir = new TempDir();
        byte[][] bad =
        [
            new RawGguf().Bytes("GGUF"u8.ToArray()).U32(1).U64(0).U64(0).ToArray(),
            new RawGguf().Header(1, 0).Tensor("w", GgmlType.F32, 17, 8).PadTo(32).Zeros(64).ToArray(),
            new RawGguf().Header(1, 0).Tensor("w", GgmlType.Q8_0, 0, 48).PadTo(32).Zeros(64).ToArray(),
            new RawGguf().Header(1, 0).Tensor("w", GgmlType.F32, 0, 4, -2).PadTo(32).Zeros(64).ToArray(),
            new RawGguf().Header(0, 1).Kv(GgufLayout.AlignmentKey, GgufValueType.UInt32).U32(48).ToArray(),
            new RawGguf().Header(0, 2).Kv("k", GgufValueType.UInt8).Bytes(1).Kv("k", GgufValueType.UInt8).Bytes(2).ToArray(),
            new RawGguf().Header(2, 0).Tensor("w", GgmlType.F32, 0, 4).Tensor("w", GgmlType.F32, 32, 4).PadTo(32).Zeros(64).ToArray(),
        ];
        for (int i = 0; i < bad.Length; i++)
        {
            string path = dir.File($"bad{i}.gguf");
            File.WriteAllBytes(path, bad[i]);
            Assert.Throws<GgufFormatException>(() => GgufReader.Open(path).Dispose());
            Assert.Null(GgmlGgufFile.TryOpen(path));
        }
    }

    [Fact]
    public void Version2_GgmlStillReads_WeRefuseAsAsked()
    {
        // v2 has v3's layout (v3 only added big-endian files), and ggml still opens it; this project
        // supports v3 only and says so, rather than silently accepting files the converters never produce.
        using var dir = new TempDir();
        string path = dir.File("v2.gguf");
        File.WriteAllBytes(path, new RawGguf().Bytes("GGUF"u8.ToArray()).U32(2).U64(0).U64(0).ToArray());
        using (var ggml = GgmlGgufFile.TryOpen(path)) Assert.Equal(2u, ggml!.Version);
        Assert.Contains("only GGUF v3 is supported", Assert.Throws<GgufFormatException>(() => GgufReader.Open(path).Dispose()).Message);
    }
}
