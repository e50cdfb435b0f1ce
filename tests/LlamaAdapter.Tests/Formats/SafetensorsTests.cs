using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats.Safetensors;

namespace LlamaAdapter.Tests.Formats;

public sealed class SafetensorsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("st-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string P(string name) => Path.Combine(_dir, name);

    /// <summary>A file laid out by hand as the spec describes, independent of our writer.</summary>
    private string RawFile(string name, string json, byte[] data, bool padHeader = true)
    {
        var header = Encoding.UTF8.GetBytes(json);
        if (padHeader) header = [.. header, .. Enumerable.Repeat((byte)' ', (8 - header.Length % 8) % 8)];
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        File.WriteAllBytes(P(name), bytes);
        return P(name);
    }

    private static byte[] Floats(params float[] f) => MemoryMarshal.AsBytes(f.AsSpan()).ToArray();

    [Fact]
    public void Reader_ReadsHandLaidFile()
    {
        var data = Floats(1, 2, 3, 4, 5, 6).Concat(new byte[] { 7, 8 }).ToArray();
        string p = RawFile("a.safetensors",
            """{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"I8","shape":[2],"data_offsets":[24,26]},"e":{"dtype":"BF16","shape":[0,4],"data_offsets":[26,26]}}""", data);
        using var r = SafetensorsReader.Open(p);
        Assert.Equal(["w", "b", "e"], r.Tensors.Select(t => t.Name));
        Assert.Equal("pt", r.Metadata["format"]);
        Assert.Equal([2L, 3L], r["w"].Shape);
        Assert.Equal(SafetensorsDType.F32, r["w"].DType);
        Assert.Equal([1f, 2, 3, 4, 5, 6], MemoryMarshal.Cast<byte, float>(r.GetBytes("w")).ToArray());
        Assert.Equal([7, 8], r.GetBytes("b").ToArray());
        Assert.Equal(0, r.GetBytes("e").Length);
        Assert.Equal(0, r.DataOffset % 8);
    }

    [Fact]
    public void Writer_OutputMatchesReferenceLayoutByteForByte()
    {
        string p = P("w.safetensors");
        using (var w = new SafetensorsWriter(p, [new("w", SafetensorsDType.F32, [2, 3]), new("b", SafetensorsDType.I8, [2])],
                   new Dictionary<string, string> { ["format"] = "pt" }))
        {
            w.Write(Floats(1, 2, 3)); // pieces need not align with tensors
            w.Write([.. Floats(4, 5, 6), 7]);
            w.Write([8]);
            w.Commit();
        }
        string json = """{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"I8","shape":[2],"data_offsets":[24,26]}}""";
        string expected = RawFile("expected", json, [.. Floats(1, 2, 3, 4, 5, 6), 7, 8]);
        Assert.Equal(File.ReadAllBytes(expected), File.ReadAllBytes(p));
        Assert.Equal(0, (File.ReadAllBytes(p).Length - 26) % 8); // header padded with spaces to 8
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void Writer_UncommittedLeavesNothingAndOrderIsEnforced()
    {
        string p = P("x.safetensors");
        using (var w = new SafetensorsWriter(p, [new("a", SafetensorsDType.F16, [2]), new("b", SafetensorsDType.F16, [1])]))
        {
            Assert.Throws<InvalidOperationException>(() => w.WriteTensor("b", new byte[2]));
            w.WriteTensor("a", new byte[4]);
            Assert.Throws<InvalidOperationException>(() => w.Commit());
        }
        Assert.Empty(Directory.GetFiles(_dir));
    }

    [Fact]
    public void Writer_RoundTripsRandomTensors()
    {
        var rng = new Random(7);
        var decls = new List<SafetensorsTensorDecl>();
        var contents = new Dictionary<string, byte[]>();
        var dtypes = Enum.GetValues<SafetensorsDType>();
        for (int i = 0; i < 20; i++)
        {
            var dt = dtypes[rng.Next(dtypes.Length)];
            long[] shape = [.. Enumerable.Range(0, rng.Next(0, 4)).Select(_ => (long)rng.Next(0, 5))];
            decls.Add(new($"t.{i}.ü", dt, shape));
            var b = new byte[shape.Aggregate(1L, (a, d) => a * d) * dt.ElementSize()];
            rng.NextBytes(b);
            contents[$"t.{i}.ü"] = b;
        }
        string p = P("r.safetensors");
        using (var w = new SafetensorsWriter(p, decls))
        {
            foreach (var d in decls) w.WriteTensor(d.Name, contents[d.Name]);
            w.Commit();
        }
        using var r = SafetensorsReader.Open(p);
        foreach (var d in decls)
        {
            Assert.Equal(d.DType, r[d.Name].DType);
            Assert.Equal(d.Shape, r[d.Name].Shape);
            Assert.Equal(contents[d.Name], r.GetBytes(d.Name).ToArray());
        }
    }

    public static TheoryData<string, byte[]?, string> BadFiles => new()
    {
        { """{"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}""", null, "dtype" },
        { """{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}""", null, "expected 8" },
        { """{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}""", null, "begin 4 > end 0" },
        { """{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", null, "beyond the data section" },
        { """{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", null, "non-negative" },
        { """{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}""", null, "overflows" },
        { """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"I16","shape":[1],"data_offsets":[2,4]}}""", null, "overlap" },
        { """{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", null, "twice" },
        { """{"__metadata__":{"k":1}}""", null, "__metadata__.k" },
        { """{"w":{"dtype":"F32","shape":[1]}}""", null, "data_offsets" },
        { """[1,2]""", null, "JSON object" },
        { "{\"w\":", null, "not valid UTF-8 JSON" },
        { "{\"\xFF\":{}}", null, "not valid UTF-8 at header byte 2 (file offset 10)" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void Reader_RefusesBadHeaders(string json, byte[]? data, string expected)
    {
        byte[] headerBytes = json.Contains('\xFF') ? [.. Encoding.UTF8.GetBytes(json.Replace("\xFF", "")).Take(2), 0xFF, .. Encoding.UTF8.GetBytes(json.Replace("\xFF", "")).Skip(2)] : Encoding.UTF8.GetBytes(json);
        string p = P("bad.safetensors");
        var bytes = new byte[8 + headerBytes.Length + (data?.Length ?? 4)];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)headerBytes.Length);
        headerBytes.CopyTo(bytes, 8);
        File.WriteAllBytes(p, bytes);
        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsReader.Open(p));
        Assert.IsAssignableFrom<BadInputException>(e);
        Assert.Contains(expected, e.Message);
        Assert.StartsWith(p, e.Message);
    }

    [Theory]
    [InlineData(0UL, 0, "at least 8")]
    [InlineData(1000UL, 8, "at most 8")]
    [InlineData(200_000_000UL, 8, "at most 100000000")]
    [InlineData(1UL, 8, "at least 2")]
    public void Reader_RefusesBadHeaderLength(ulong n, int fileExtra, string expected)
    {
        string p = P("len.safetensors");
        byte[] bytes = fileExtra == 0 ? [1, 2, 3] : new byte[8 + fileExtra];
        if (fileExtra > 0) BinaryPrimitives.WriteUInt64LittleEndian(bytes, n);
        File.WriteAllBytes(p, bytes);
        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsReader.Open(p));
        Assert.Contains(expected, e.Message);
        Assert.Contains("offset 0", e.Message);
    }

    private void Shard(string name, params (string Name, float[] Values)[] tensors)
    {
        using var w = new SafetensorsWriter(P(name), tensors.Select(t => new SafetensorsTensorDecl(t.Name, SafetensorsDType.F32, [t.Values.Length])));
        foreach (var t in tensors) w.WriteTensor(t.Name, Floats(t.Values));
        w.Commit();
    }

    private void Index(string weightMapJson) =>
        File.WriteAllText(P(SafetensorsModel.IndexFileName), "{\"metadata\":{\"total_size\":16},\"weight_map\":{" + weightMapJson + "}}");

    [Fact]
    public void Model_OpensShardsThroughIndex()
    {
        Shard("model-00001-of-00002.safetensors", ("a", [1, 2]), ("b", [3]));
        Shard("model-00002-of-00002.safetensors", ("c", [4]));
        Index("\"a\":\"model-00001-of-00002.safetensors\",\"c\":\"model-00002-of-00002.safetensors\",\"b\":\"model-00001-of-00002.safetensors\"");
        using var m = SafetensorsModel.Open(_dir);
        Assert.Equal(2, m.Shards.Count);
        Assert.Equal(["a", "b", "c"], m.Tensors.Select(t => t.Name));
        Assert.Equal([4f], MemoryMarshal.Cast<byte, float>(m.GetBytes("c")).ToArray());
        Assert.Equal([1f, 2], MemoryMarshal.Cast<byte, float>(m.GetBytes("a")).ToArray());
    }

    [Fact]
    public void Model_OpensSingleFileAndDirectory()
    {
        Shard("model.safetensors", ("a", [1]));
        using var m = SafetensorsModel.Open(_dir);
        Assert.Equal([1f], MemoryMarshal.Cast<byte, float>(m.GetBytes("a")).ToArray());
        using var m2 = SafetensorsModel.Open(P("model.safetensors"));
        Assert.Single(m2.Tensors);
    }

    [Theory]
    [InlineData("\"a\":\"s1.safetensors\",\"b\":\"gone.safetensors\"", "gone.safetensors", "does not exist")]
    [InlineData("\"a\":\"s1.safetensors\",\"b\":\"s1.safetensors\",\"z\":\"s1.safetensors\"", "'z'", "is missing")]
    [InlineData("\"a\":\"s1.safetensors\",\"b\":\"s1.safetensors\",\"d\":\"s2.safetensors\"", "'a'", "also in shard")]
    [InlineData("\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\",\"d\":\"s2.safetensors\"", "weight_map.b", "is in shard s1")]
    [InlineData("\"a\":\"../s1.safetensors\"", "weight_map.a", "plain file name")]
    public void Model_RefusesInconsistentShards(string map, string names, string expected)
    {
        Shard("s1.safetensors", ("a", [1]), ("b", [2]));
        Shard("s2.safetensors", ("d", [1]), ("a", [2]));
        Index(map);
        var e = Assert.Throws<SafetensorsFormatException>(() => SafetensorsModel.Open(_dir));
        Assert.Contains(names, e.Message);
        Assert.Contains(expected, e.Message);
    }
}
