using System.Buffers.Binary;
using System.Diagnostics;
using CsCheck;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Tests.Formats;

/// <summary>
/// Property tests: random valid files (random metadata including arrays and arrays of arrays, random tensors,
/// random alignment) read back exactly; then mutated (bit flips, byte overwrites, truncations, huge values at
/// length/count/dim/type fields, swapped or random offsets) they either parse or throw GgufFormatException,
/// quickly. Any other exception, or a slow case, fails.
/// </summary>
public class GgufFuzzTests
{
    private const int MutationsPerFile = 24;
    private static readonly TimeSpan PerCase = TimeSpan.FromMilliseconds(500);

    private static readonly GgmlType[] TensorTypes = [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.I8, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K];
    private static readonly string[] Texts = ["", "a", "llama", "▁the", "héllo", "日本語", "🦙", "<s>", "tok\u0000en"];

    [Fact]
    public void RandomValidFiles_RoundTrip_AndTheirMutations_ParseOrFailCleanly()
    {
        using var dir = new TempDir();
        int cases = 0;
        var gen = Gen.Select(Gen.Int[0, 8], Gen.Int[0, 6], Gen.Int[0, 7], Gen.Int);
        gen.Sample((kvs, tensors, alignLog2, seed) =>
        {
            var rng = new Random(seed);
            var metadata = RandomMetadata(rng, kvs, 1u << alignLog2);
            var specs = RandomTensors(rng, tensors);
            string path = System.IO.Path.Combine(dir.Path, $"{Guid.NewGuid():N}.gguf");
            IReadOnlyList<GgufTensorInfo> planned;
            using (var w = GgufWriter.Create(path, metadata, specs))
            {
                planned = w.Tensors;
                foreach (var t in w.Tensors) w.WriteTensor(t.Name, GgufFixtures.BytesFor(t));
                w.Commit();
            }
            byte[] valid = File.ReadAllBytes(path);

            // The valid file reads back exactly, through the mapped-file path.
            using (var r = GgufReader.Open(path))
            {
                Assert.Equal(metadata.Keys, r.Metadata.Keys);
                foreach (var (k, v) in metadata) Assert.Equal(v, r.Metadata[k]);
                Assert.Equal(planned, r.Tensors);
                foreach (var t in r.Tensors) Assert.True(r.Span(t).SequenceEqual(GgufFixtures.BytesFor(t)));
            }

            var fields = FieldMap.Of(valid);
            for (int m = 0; m < MutationsPerFile; m++)
            {
                var (bytes, what) = Mutate(valid, fields, rng);
                ParseOrFailCleanly(bytes, what);
                Interlocked.Increment(ref cases);
            }
            // One mutant per file also goes through the file-mapping path.
            var (onDisk, how) = Mutate(valid, fields, rng);
            File.WriteAllBytes(path, onDisk);
            try { GgufReader.Open(path).Dispose(); }
            catch (GgufFormatException) { }
            catch (Exception e) { Assert.Fail($"{how}: {e.GetType().Name}: {e.Message}"); }
            File.Delete(path);
        }, iter: 250, threads: 2);
        Assert.True(cases >= 6000, $"only {cases} mutated cases ran");
    }

    private static unsafe void ParseOrFailCleanly(byte[] bytes, string what)
    {
        var sw = Stopwatch.StartNew();
        try
        {
            fixed (byte* p = bytes)
            {
                var h = GgufHeaderParser.Parse(p, bytes.Length, "fuzz.gguf");
                foreach (var t in h.Tensors)   // what parses is consistent: every tensor inside the file
                    Assert.True(t.FileOffset >= h.DataOffset && t.FileOffset + t.ByteSize <= bytes.Length, $"{what}: {t} out of bounds");
            }
        }
        catch (GgufFormatException e)
        {
            Assert.StartsWith("fuzz.gguf: ", e.Message);
        }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException)
        {
            Assert.Fail($"{what}: {e.GetType().Name}: {e.Message}");
        }
        Assert.True(sw.Elapsed < PerCase, $"{what}: took {sw.Elapsed}");
    }

    private static (byte[] Bytes, string What) Mutate(byte[] valid, FieldMap fields, Random rng)
    {
        var b = (byte[])valid.Clone();
        switch (rng.Next(7))
        {
            case 0:
            {
                int flips = rng.Next(1, 4);
                var at = new List<int>();
                for (int i = 0; i < flips; i++) { int pos = rng.Next(b.Length); b[pos] ^= (byte)(1 << rng.Next(8)); at.Add(pos); }
                return (b, $"bit flips at {string.Join(",", at)}");
            }
            case 1:
            {
                int pos = rng.Next(b.Length);
                b[pos] = rng.Next(3) switch { 0 => 0, 1 => 0xFF, _ => (byte)rng.Next(256) };
                return (b, $"byte {pos} overwritten with {b[pos]}");
            }
            case 2:
            {
                int len = rng.Next(b.Length);
                return (b[..len], $"truncated to {len}");
            }
            case 3 when fields.Wide.Count > 0:
            {
                int pos = fields.Wide[rng.Next(fields.Wide.Count)];
                ulong[] huge = [1UL << 63, ulong.MaxValue, 1_000_000_000, 1UL << 32, (ulong)b.Length, (ulong)b.Length + 1, (ulong)long.MaxValue, 0];
                ulong v = huge[rng.Next(huge.Length)];
                BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(pos), v);
                return (b, $"u64 field at {pos} set to {v}");
            }
            case 4 when fields.Narrow.Count > 0:
            {
                int pos = fields.Narrow[rng.Next(fields.Narrow.Count)];
                uint[] odd = [uint.MaxValue, 13, 9, 5, 0, 4, 40, 0x80000000];
                uint v = odd[rng.Next(odd.Length)];
                BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(pos), v);
                return (b, $"u32 field at {pos} set to {v}");
            }
            case 5 when fields.TensorOffsets.Count >= 2:
            {
                int i = rng.Next(fields.TensorOffsets.Count), j = rng.Next(fields.TensorOffsets.Count);
                int pi = fields.TensorOffsets[i], pj = fields.TensorOffsets[j];
                ulong vi = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(pi)), vj = BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(pj));
                BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(pi), vj);
                BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(pj), vi);
                return (b, $"offsets of tensors {i} and {j} swapped");
            }
            case 6 when fields.TensorOffsets.Count >= 1:
            {
                int pos = fields.TensorOffsets[rng.Next(fields.TensorOffsets.Count)];
                ulong v = (ulong)rng.NextInt64(0, valid.Length);
                if (rng.Next(2) == 0) v &= ~31UL;  // often aligned, so the bounds and overlap checks are reached
                BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(pos), v);
                return (b, $"tensor offset at {pos} set to {v}");
            }
            default:
            {
                int pos = rng.Next(b.Length);
                int n = Math.Min(b.Length - pos, rng.Next(1, 9));
                rng.NextBytes(b.AsSpan(pos, n));
                return (b, $"{n} random bytes at {pos}");
            }
        }
    }

    private static GgufMetadata RandomMetadata(Random rng, int count, uint alignment)
    {
        var m = new GgufMetadata();
        if (alignment != 32 || rng.Next(2) == 0) m.Set(GgufLayout.AlignmentKey, GgufValue.Of(alignment));
        for (int i = 0; i < count; i++) m.Set($"k{i}.{Texts[rng.Next(Texts.Length)]}", RandomValue(rng, depth: 0));
        return m;
    }

    private static readonly GgufValueType[] ScalarTypes = Enum.GetValues<GgufValueType>().Where(t => t != GgufValueType.Array).ToArray();

    private static GgufValue RandomValue(Random rng, int depth)
    {
        int kind = rng.Next(ScalarTypes.Length + 2);
        if (kind == ScalarTypes.Length) return RandomArray(rng, depth + 1);
        if (kind == ScalarTypes.Length + 1) return GgufValue.ArrayOfArrays(Fill(rng.Next(4), () => RandomArray(rng, depth + 1)));
        return RandomScalar(rng, ScalarTypes[kind]);
    }

    private static GgufValue RandomArray(Random rng, int depth)
    {
        int n = rng.Next(6);
        var t = (GgufValueType)rng.Next(13);
        return t switch
        {
            GgufValueType.UInt8 => GgufValue.Array(Fill(n, () => (byte)rng.Next(256))),
            GgufValueType.Int8 => GgufValue.Array(Fill(n, () => (sbyte)rng.Next(-128, 128))),
            GgufValueType.UInt16 => GgufValue.Array(Fill(n, () => (ushort)rng.Next(65536))),
            GgufValueType.Int16 => GgufValue.Array(Fill(n, () => (short)rng.Next(-32768, 32768))),
            GgufValueType.UInt32 => GgufValue.Array(Fill(n, () => (uint)rng.NextInt64(0, uint.MaxValue))),
            GgufValueType.Int32 => GgufValue.Array(Fill(n, () => rng.Next())),
            GgufValueType.Float32 => GgufValue.Array(Fill(n, () => (float)rng.NextDouble())),
            GgufValueType.Bool => GgufValue.Array(Fill(n, () => rng.Next(2) == 1)),
            GgufValueType.String => GgufValue.Array(Fill(n, () => Texts[rng.Next(Texts.Length)])),
            GgufValueType.Array when depth < 3 => GgufValue.ArrayOfArrays(Fill(n % 3, () => RandomArray(rng, depth + 1))),
            GgufValueType.UInt64 => GgufValue.Array(Fill(n, () => (ulong)rng.NextInt64())),
            GgufValueType.Int64 => GgufValue.Array(Fill(n, () => -rng.NextInt64())),
            _ => GgufValue.Array(Fill(n, () => rng.NextDouble())),
        };
    }

    private static GgufValue RandomScalar(Random rng, GgufValueType t) => t switch
    {
        GgufValueType.UInt8 => GgufValue.Of((byte)rng.Next(256)),
        GgufValueType.Int8 => GgufValue.Of((sbyte)rng.Next(-128, 128)),
        GgufValueType.UInt16 => GgufValue.Of((ushort)rng.Next(65536)),
        GgufValueType.Int16 => GgufValue.Of((short)rng.Next(-32768, 32768)),
        GgufValueType.UInt32 => GgufValue.Of((uint)rng.NextInt64(0, uint.MaxValue)),
        GgufValueType.Int32 => GgufValue.Of(rng.Next()),
        GgufValueType.Float32 => GgufValue.Of((float)rng.NextDouble()),
        GgufValueType.Bool => GgufValue.Of(rng.Next(2) == 1),
        GgufValueType.UInt64 => GgufValue.Of((ulong)rng.NextInt64()),
        GgufValueType.Int64 => GgufValue.Of(-rng.NextInt64()),
        GgufValueType.Float64 => GgufValue.Of(rng.NextDouble()),
        _ => GgufValue.Of(Texts[rng.Next(Texts.Length)]),
    };

    private static T[] Fill<T>(int n, Func<T> next)
    {
        var a = new T[n];
        for (int i = 0; i < n; i++) a[i] = next();
        return a;
    }

    private static GgufTensorSpec[] RandomTensors(Random rng, int count) =>
        Enumerable.Range(0, count).Select(i =>
        {
            var type = TensorTypes[rng.Next(TensorTypes.Length)];
            int block = Core.Tensors.GgmlTypeTraits.Layout(type).BlockSize;
            var shape = new long[rng.Next(1, 5)];
            shape[0] = block * rng.Next(0, 3);
            for (int d = 1; d < shape.Length; d++) shape[d] = rng.Next(1, 4);
            return new GgufTensorSpec($"blk.{i}.w{Texts[rng.Next(Texts.Length)]}", type, shape);
        }).ToArray();

    /// <summary>Where the fixed-size fields of a valid file sit: u64 lengths/counts/dims, u32 types/n_dims, tensor offsets.</summary>
    private sealed class FieldMap
    {
        public List<int> Wide { get; } = [];
        public List<int> Narrow { get; } = [];
        public List<int> TensorOffsets { get; } = [];
        private readonly byte[] _b;
        private int _pos;

        private FieldMap(byte[] b) => _b = b;

        public static FieldMap Of(byte[] valid)
        {
            var f = new FieldMap(valid) { _pos = 4 };
            f.U32(); // version
            ulong tensors = f.U64(), kvs = f.U64();
            for (ulong i = 0; i < kvs; i++)
            {
                f.Str();
                uint type = f.U32();
                f.Value(type);
            }
            for (ulong i = 0; i < tensors; i++)
            {
                f.Str();
                uint dims = f.U32();
                for (uint d = 0; d < dims; d++) f.U64();
                f.U32();
                f.TensorOffsets.Add(f._pos);
                f.U64();
            }
            return f;
        }

        private void Value(uint type)
        {
            switch ((GgufValueType)type)
            {
                case GgufValueType.String: Str(); break;
                case GgufValueType.Array: ArrayBody(); break;
                default: _pos += GgufLayout.MinEncodedBytes((GgufValueType)type); break;
            }
        }

        private void ArrayBody()
        {
            uint type = U32();
            ulong n = U64();
            for (ulong i = 0; i < n; i++)
                if ((GgufValueType)type == GgufValueType.Array) ArrayBody();
                else Value(type);
        }

        private void Str()
        {
            int length = (int)U64();
            _pos += length;
        }

        private ulong U64()
        {
            Wide.Add(_pos);
            ulong v = BinaryPrimitives.ReadUInt64LittleEndian(_b.AsSpan(_pos));
            _pos += 8;
            return v;
        }

        private uint U32()
        {
            Narrow.Add(_pos);
            uint v = BinaryPrimitives.ReadUInt32LittleEndian(_b.AsSpan(_pos));
            _pos += 4;
            return v;
        }
    }
}
