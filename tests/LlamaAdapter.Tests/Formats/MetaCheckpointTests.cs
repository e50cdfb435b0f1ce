using System.IO.Compression;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats.Meta;
using LlamaAdapter.Core.Formats.Safetensors;
using static LlamaAdapter.Tests.Formats.MetaTorchSaveWriter;

namespace LlamaAdapter.Tests.Formats;

public sealed class MetaCheckpointTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("meta-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, byte[] bytes)
    {
        string p = Path.Combine(_dir, name);
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        File.WriteAllBytes(p, bytes);
        return p;
    }

    [Theory]
    [InlineData(false, false, false)]
    [InlineData(true, false, false)]   // state_dict(): OrderedDict with _metadata set by BUILD
    [InlineData(false, true, false)]   // zip64 records, as in files over 4 GiB
    [InlineData(false, false, true)]   // deflated records are copied, not viewed
    public void TorchCheckpoint_ReadsEveryTensorExactly(bool ordered, bool zip64, bool deflate)
    {
        string p = Write("consolidated.00.pth", MetaFixture.Checkpoint(ordered, zip64, deflate));
        using var c = TorchCheckpoint.Open(p);
        var expected = MetaFixture.Expected();
        Assert.Equal(MetaFixture.Tensors.Select(t => t.Name), c.Tensors.Select(t => t.Name));
        foreach (var (name, shape, dt) in MetaFixture.Tensors)
        {
            Assert.Equal(shape, c[name].Shape);
            Assert.Equal(dt, c[name].DType);
            Assert.Equal(expected[name], c.GetBytes(name).ToArray());
            Assert.Equal(!deflate, c.IsZeroCopy(name));
        }
    }

    [Fact]
    public void Writer_LaysOutZipAsPyTorchAndSystemZipAgrees()
    {
        // An independent zip reader sees the same members and bytes, so the fixture is a well-formed zip.
        byte[] bytes = MetaFixture.Checkpoint();
        using var z = new ZipArchive(new MemoryStream(bytes));
        Assert.Equal("consolidated/data.pkl", z.Entries[0].FullName);
        Assert.Contains(z.Entries, e => e.FullName == "consolidated/data/12");
        using var ms = new MemoryStream();
        z.GetEntry("consolidated/data/0")!.Open().CopyTo(ms);
        Assert.Equal(MetaFixture.Expected()["tok_embeddings.weight"], ms.ToArray());
    }

    [Theory]
    [InlineData(CompressionLevel.NoCompression, true)]
    [InlineData(CompressionLevel.Optimal, true)]
    [InlineData(CompressionLevel.NoCompression, false)] // unseekable output: sizes go to data descriptors
    public void TorchCheckpoint_ReadsZipWrittenBySystemZip(CompressionLevel level, bool seekable)
    {
        // An independent zip writer (System.IO.Compression), so the zip parsing is not only checked against our own writer.
        using var src = new ZipArchive(new MemoryStream(MetaFixture.Checkpoint()));
        var ms = new MemoryStream();
        using (var z = new ZipArchive(seekable ? ms : new WriteOnlyStream(ms), ZipArchiveMode.Create, leaveOpen: true))
            foreach (var e in src.Entries)
            {
                using var from = e.Open();
                using var to = z.CreateEntry(e.FullName, level).Open();
                from.CopyTo(to);
            }
        string p = Write("sys.pth", ms.ToArray());
        using var c = TorchCheckpoint.Open(p);
        var expected = MetaFixture.Expected();
        foreach (var t in MetaFixture.Tensors) Assert.Equal(expected[t.Name], c.GetBytes(t.Name).ToArray());
    }

    private sealed class WriteOnlyStream(Stream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
    }

    [Fact]
    public void Pickle_IsWhatPythonEmitsForOneTensor()
    {
        // Hand-assembled from pickle's protocol-2 rules for {'w': tensor} with a 2×3 FloatStorage at key '0'.
        var s = new Storage("FloatStorage", "0", 6, new byte[24]);
        byte[] actual = Pickle([("w", TensorObject(new Tensor(s, 0, [2, 3], [3, 1])))]);
        byte[] expected =
        [
            0x80, 2, (byte)'}', (byte)'q', 0,                                   // PROTO 2, EMPTY_DICT, BINPUT 0
            (byte)'X', 1, 0, 0, 0, (byte)'w', (byte)'q', 1,                       // 'w'
            (byte)'c', .. "torch._utils\n_rebuild_tensor_v2\n"u8, (byte)'q', 2,   // GLOBAL
            (byte)'(',                                                          // MARK (6-tuple of args)
            (byte)'(', (byte)'X', 7, 0, 0, 0, .. "storage"u8, (byte)'q', 3,       // MARK, persistent id 5-tuple …
            (byte)'c', .. "torch\nFloatStorage\n"u8, (byte)'q', 4,
            (byte)'X', 1, 0, 0, 0, (byte)'0', (byte)'q', 5,
            (byte)'X', 3, 0, 0, 0, .. "cpu"u8, (byte)'q', 6,
            (byte)'K', 6, (byte)'t', (byte)'q', 7, (byte)'Q',                   // numel 6, TUPLE, BINPERSID
            (byte)'K', 0,                                                       // storage offset
            (byte)'K', 2, (byte)'K', 3, 0x86, (byte)'q', 8,                     // size (2, 3)
            (byte)'K', 3, (byte)'K', 1, 0x86, (byte)'q', 9,                     // stride (3, 1)
            0x89,                                                               // requires_grad False
            (byte)'c', .. "collections\nOrderedDict\n"u8, (byte)'q', 10, (byte)')', (byte)'R', (byte)'q', 11, // OrderedDict()
            (byte)'t', (byte)'q', 12, (byte)'R', (byte)'q', 13,                 // TUPLE, REDUCE
            (byte)'s', (byte)'.',                                               // SETITEM, STOP
        ];
        Assert.Equal(expected, actual);
    }

    private static (string, long[], SafetensorsDType, byte[]) F32(string name, long[] shape, params float[] v) =>
        (name, shape, SafetensorsDType.F32, MetaFixture.Encode(SafetensorsDType.F32, v.Select(x => (double)x)));

    [Fact]
    public void TorchCheckpoint_ViewsWithOffsetSharedStorageAndStridesAreResolved()
    {
        // One storage of 12 floats seen as: a contiguous 2×3 view at offset 6, the 3×4 transpose of its start, and the same tensor twice (tied).
        float[] data = [.. Enumerable.Range(0, 12).Select(i => (float)i)];
        var s = new Storage("FloatStorage", "0", 12, MetaFixture.Encode(SafetensorsDType.F32, data.Select(x => (double)x)));
        var tied = TensorObject(new Tensor(s, 0, [12], [1]));
        byte[] pkl = Pickle([
            ("tail", TensorObject(new Tensor(s, 6, [2, 3], [3, 1]))),
            ("transposed", TensorObject(new Tensor(s, 0, [3, 4], [1, 3]))),
            ("a", tied), ("b", tied),
            ("scalar", TensorObject(new Tensor(s, 5, [], []))),
        ]);
        string p = Write("x.pth", Zip("x", pkl, [s]));
        using var c = TorchCheckpoint.Open(p);
        float[] Floats(string n) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(c.GetBytes(n)).ToArray();
        Assert.Equal([6f, 7, 8, 9, 10, 11], Floats("tail"));
        Assert.True(c.IsZeroCopy("tail"));
        // transposed[i, j] = storage[i + 3j]
        Assert.Equal([0f, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11], Floats("transposed"));
        Assert.False(c.IsZeroCopy("transposed"));
        Assert.Equal(data, Floats("a"));
        Assert.Equal(data, Floats("b"));
        Assert.Equal([5f], Floats("scalar"));
    }

    [Theory]
    [InlineData(11, new long[] { 2, 3 }, new long[] { 3, 1 }, "reach element 16")]
    [InlineData(-1, new long[] { 2 }, new long[] { 1 }, "storage offset -1")]
    [InlineData(0, new long[] { 13 }, new long[] { 1 }, "reach element 12")]
    [InlineData(0, new long[] { 2, 2 }, new long[] { 1 }, "dimensions")]
    public void TorchCheckpoint_RefusesViewsOutsideTheStorage(long offset, long[] size, long[] stride, string expected)
    {
        var s = new Storage("FloatStorage", "0", 12, new byte[48]);
        string p = Write("bad.pth", Zip("bad", Pickle([("w", TensorObject(new Tensor(s, offset, size, stride)))]), [s]));
        var e = Assert.Throws<MetaCheckpointException>(() => TorchCheckpoint.Open(p));
        Assert.Contains(expected, e.Message);
        Assert.Contains(p, e.Message);
    }

    [Fact]
    public void TorchCheckpoint_RefusesStorageOfWrongSizeOrMissing()
    {
        var s = new Storage("HalfStorage", "0", 12, new byte[20]);
        string p = Write("short.pth", Zip("a", Pickle([("w", TensorObject(new Tensor(s, 0, [12], [1])))]), [s]));
        Assert.Contains("holds 20 bytes; expected numel 12 × 2", Assert.Throws<MetaCheckpointException>(() => TorchCheckpoint.Open(p)).Message);

        var gone = new Storage("HalfStorage", "7", 1, new byte[2]);
        string q = Write("gone.pth", Zip("a", Pickle([("w", TensorObject(new Tensor(gone, 0, [1], [1])))]), []));
        Assert.Contains("a/data/7 is missing", Assert.Throws<MetaCheckpointException>(() => TorchCheckpoint.Open(q)).Message);
    }

    public static TheoryData<string, byte[], string> EvilPickles => new()
    {
        // GLOBAL os.system / builtins.eval: refused at the opcode, before any REDUCE.
        { "os.system", [0x80, 2, (byte)'c', .. "os\nsystem\n"u8, (byte)'X', 2, 0, 0, 0, .. "ls"u8, 0x85, (byte)'R', (byte)'.'], "byte 2: GLOBAL os.system is not allowed" },
        { "eval", [0x80, 2, (byte)'c', .. "builtins\neval\n"u8, (byte)'.'], "GLOBAL builtins.eval" },
        { "torch.load", [0x80, 2, (byte)'c', .. "torch\nload\n"u8, (byte)'.'], "GLOBAL torch.load" },
        // STACK_GLOBAL (protocol 4) and INST/OBJ are not on the list at all.
        { "stack_global", [0x80, 2, 0x8c, 2, .. "os"u8, 0x8c, 6, .. "system"u8, 0x93, (byte)'.'], "byte 14: opcode 0x93" },
        { "inst", [0x80, 2, (byte)'(', (byte)'i', .. "os\nsystem\n"u8, (byte)'.'], "byte 3: opcode 0x69 ('i')" },
        { "protocol0", [(byte)'(', (byte)'d', (byte)'p', (byte)'0', (byte)'\n', (byte)'.'], "byte 1: opcode 0x64 ('d')" },
        // Calling a storage class, or an allowed function with the wrong arguments.
        { "call storage", [0x80, 2, (byte)'c', .. "torch\nFloatStorage\n"u8, (byte)')', (byte)'R', (byte)'.'], "REDUCE of global torch.FloatStorage" },
        { "bad pid", [0x80, 2, (byte)'X', 1, 0, 0, 0, (byte)'x', (byte)'Q', (byte)'.'], "persistent id string 'x'" },
        { "memo miss", [0x80, 2, (byte)'h', 9, (byte)'.'], "memo slot 9" },
        { "truncated", [0x80, 2, (byte)'X', 100, 0, 0, 0, (byte)'a'], "100 bytes needed" },
        { "no stop", [0x80, 2, (byte)'N'], "1 bytes needed" },
        { "not a dict", [0x80, 2, (byte)'N', (byte)'.'], "expected a dict of tensors" },
        { "non-tensor", [0x80, 2, (byte)'}', (byte)'X', 1, 0, 0, 0, (byte)'k', (byte)'K', 5, (byte)'s', (byte)'.'], "entry 'k' is a Int64; expected a tensor" },
    };

    [Theory]
    [MemberData(nameof(EvilPickles))]
    public void PickleReader_RefusesEverythingOutsideTheWhitelist(string label, byte[] pkl, string expected)
    {
        string p = Write($"{label.Replace(' ', '_')}.pth", Zip("evil", pkl, []));
        var e = Assert.Throws<MetaCheckpointException>(() => TorchCheckpoint.Open(p));
        Assert.IsAssignableFrom<BadInputException>(e);
        Assert.Contains(expected, e.Message);
        Assert.Contains(p, e.Message);
    }

    [Theory]
    [InlineData(new byte[] { 1, 2, 3 }, "byte 0")]
    [InlineData(new byte[] { 0x50, 0x4b, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, "end-of-central-directory")]
    public void TorchCheckpoint_RefusesNonZipFiles(byte[] bytes, string expected)
    {
        string p = Write("nz.pth", bytes);
        Assert.Contains(expected, Assert.Throws<MetaCheckpointException>(() => TorchCheckpoint.Open(p)).Message);
    }

    [Fact]
    public void TorchCheckpoint_TruncatedFileIsRefusedNotCrashed()
    {
        byte[] full = MetaFixture.Checkpoint();
        for (int cut = 1; cut < full.Length; cut += 97)
        {
            string p = Write($"t{cut}.pth", full[..cut]);
            Assert.ThrowsAny<BadInputException>(() => TorchCheckpoint.Open(p));
        }
    }

    [Fact]
    public void MetaCheckpoint_SingleShardGivesConfigAndViews()
    {
        Write("m/consolidated.00.pth", MetaFixture.Checkpoint());
        Write("m/params.json", System.Text.Encoding.UTF8.GetBytes(MetaFixture.ParamsJson));
        using var m = MetaCheckpoint.Open(Path.Combine(_dir, "m"));
        Assert.Equal(new Core.Config.LlamaConfig(8, 1, 2, 2, 24, 16, 10000, null, 1e-5, 4096), m.Config);
        var expected = MetaFixture.Expected();
        foreach (var t in MetaFixture.Tensors) Assert.Equal(expected[t.Name], m.GetBytes(t.Name).ToArray());
    }

    // fairscale's model-parallel layers: ColumnParallelLinear (wq, wk, wv, w1, w3, output) splits output rows;
    // RowParallelLinear (wo, w2) splits input columns; ParallelEmbedding splits the embedding dimension.
    private static readonly HashSet<string> SplitByColumns = ["tok_embeddings.weight", "layers.0.attention.wo.weight", "layers.0.feed_forward.w2.weight"];

    private static byte[] Part(byte[] full, long[] shape, int elem, int axis, int shard, int nShards)
    {
        long rows = shape[0], cols = shape[1];
        if (axis == 0) { long n = rows / nShards * cols * elem; return full[(int)(shard * n)..(int)((shard + 1) * n)]; }
        long w = cols / nShards * elem;
        return [.. Enumerable.Range(0, (int)rows).SelectMany(r => full[(int)(r * cols * elem + shard * w)..(int)(r * cols * elem + (shard + 1) * w)])];
    }

    [Fact]
    public void MetaCheckpoint_TwoShardsMergeAsModelParallelSplit()
    {
        var expected = MetaFixture.Expected();
        for (int shard = 0; shard < 2; shard++)
        {
            var parts = MetaFixture.Tensors.Select(t =>
            {
                if (t.Shape.Length == 1) return (t.Name, t.Shape, t.DType, expected[t.Name]); // replicated
                int axis = SplitByColumns.Contains(t.Name) ? 1 : 0;
                var shape = (long[])t.Shape.Clone();
                shape[axis] /= 2;
                return (t.Name, shape, t.DType, Part(expected[t.Name], t.Shape, t.DType.ElementSize(), axis, shard, 2));
            });
            Write($"m2/consolidated.0{shard}.pth", MetaFixture.Checkpoint(parts));
        }
        Write("m2/params.json", System.Text.Encoding.UTF8.GetBytes(MetaFixture.ParamsJson));
        using var m = MetaCheckpoint.Open(Path.Combine(_dir, "m2"));
        Assert.Equal(2, m.Shards.Count);
        foreach (var t in MetaFixture.Tensors)
        {
            Assert.Equal(t.Shape, m[t.Name].Shape);
            Assert.Equal(expected[t.Name], m.GetBytes(t.Name).ToArray());
        }
        Assert.Equal(16, m.Config.VocabSize);
    }

    [Fact]
    public void MetaCheckpoint_RefusesMissingShardTensorAndParams()
    {
        var e = MetaFixture.Expected();
        Write("a/consolidated.00.pth", MetaFixture.Checkpoint());
        Write("a/consolidated.01.pth", MetaFixture.Checkpoint(MetaFixture.Tensors.Skip(1).Select(t => (t.Name, t.Shape, t.DType, e[t.Name]))));
        Write("a/params.json", System.Text.Encoding.UTF8.GetBytes(MetaFixture.ParamsJson));
        var ex = Assert.Throws<MetaCheckpointException>(() => MetaCheckpoint.Open(Path.Combine(_dir, "a")));
        Assert.Contains("consolidated.01.pth", ex.Message);
        Assert.Contains("'tok_embeddings.weight' is missing", ex.Message);

        Write("n/consolidated.00.pth", MetaFixture.Checkpoint());
        Write("n/consolidated.01.pth", MetaFixture.Checkpoint(MetaFixture.Tensors.Where(t => t.Name != "norm.weight").Select(t => (t.Name, t.Shape, t.DType, e[t.Name]))));
        Write("n/params.json", System.Text.Encoding.UTF8.GetBytes(MetaFixture.ParamsJson));
        Assert.Contains("'norm.weight' is missing", Assert.Throws<MetaCheckpointException>(() => MetaCheckpoint.Open(Path.Combine(_dir, "n"))).Message);

        Write("b/consolidated.01.pth", MetaFixture.Checkpoint());
        Write("b/params.json", System.Text.Encoding.UTF8.GetBytes(MetaFixture.ParamsJson));
        Assert.Contains("consolidated.00.pth is missing", Assert.Throws<MetaCheckpointException>(() => MetaCheckpoint.Open(Path.Combine(_dir, "b"))).Message);

        Write("c/consolidated.00.pth", MetaFixture.Checkpoint());
        Assert.Contains("params.json is missing", Assert.Throws<MetaCheckpointException>(() => MetaCheckpoint.Open(Path.Combine(_dir, "c"))).Message);
    }
}
