using System.Globalization;
using LlamaAdapter.Convert;
using LlamaAdapter.Convert.Bench;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Formats.Safetensors;

namespace LlamaAdapter.Tests.Convert;

/// <summary>
/// Converting streams: each tensor's mapped input pages leave the process's resident set once it is written, so a
/// 13 GB checkpoint converts in about one tensor of memory. Resident pages are read per mapping from
/// /proc/self/smaps, so other tests running beside these do not disturb the numbers.
/// </summary>
public class StreamingMemoryTests
{
    private static readonly SyntheticShape Small = new(Dim: 256, FfnDim: 688, Heads: 4, KvHeads: 2, Vocab: 512, Layers: 2);

    /// <summary>Resident bytes of every mapping of <paramref name="path"/> in this process (Linux; null elsewhere).</summary>
    private static long? MappedRss(string path)
    {
        if (!File.Exists("/proc/self/smaps")) return null;
        long total = 0;
        bool inFile = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length >= 5 && parts[0].Contains('-', StringComparison.Ordinal) && !parts[0].EndsWith(':'))
                inFile = parts.Length >= 6 && string.Join(' ', parts[5..]) == path;
            else if (inFile && parts is ["Rss:", var kb, "kB"])
                total += long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
        }
        return total;
    }

    [Fact]
    public void Released_tensor_pages_leave_the_resident_set()
    {
        if (!OperatingSystem.IsLinux()) return;
        string dir = Directory.CreateTempSubdirectory("release-test-").FullName;
        try
        {
            string file = Path.Combine(dir, "t.safetensors");
            var data = new byte[16 << 20];
            new Random(1).NextBytes(data);
            using (var w = new SafetensorsWriter(file, [new SafetensorsTensorDecl("w", SafetensorsDType.U8, [data.Length])]))
            {
                w.Write(data);
                w.Commit();
            }
            using var r = SafetensorsReader.Open(file);
            long sum = 0;
            foreach (byte b in r.GetBytes("w")) sum += b;          // fault every page in
            Assert.Equal(data.Sum(b => (long)b), sum);
            long before = MappedRss(file)!.Value;
            Assert.True(before >= data.Length - (1 << 20), $"reading should make the tensor resident: {before} bytes");

            r.Release("w");
            long after = MappedRss(file)!.Value;
            Assert.True(after <= 64 << 10, $"after Release the mapping keeps {after} resident bytes");
            Assert.Equal(data.Sum(b => (long)b), r.GetBytes("w").ToArray().Sum(b => (long)b));   // still readable, unchanged
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>A source that records reads and releases, around a real HF checkpoint.</summary>
    private sealed class RecordingSource(ICheckpointSource inner) : ICheckpointSource
    {
        public readonly List<string> Events = [];
        public string Path => inner.Path;
        public LlamaConfig Config => inner.Config;
        public IReadOnlyList<SourceTensor> Tensors => inner.Tensors;
        public GgufMetadata? SourceMetadata => inner.SourceMetadata;
        public ReadOnlySpan<byte> Bytes(SourceTensor tensor) { Events.Add("read " + tensor.SourceName); return inner.Bytes(tensor); }
        public void Release(SourceTensor tensor) { Events.Add("release " + tensor.SourceName); inner.Release(tensor); }
        public void Dispose() => inner.Dispose();
    }

    [Fact]
    public void Converter_releases_each_tensor_once_right_after_writing_it()
    {
        string dir = Directory.CreateTempSubdirectory("release-convert-").FullName;
        try
        {
            string hf = Path.Combine(dir, "hf");
            SyntheticCheckpoint.WriteHf(hf, Small, shards: 2);
            using var source = new RecordingSource(ModelConverter.OpenSource(hf));
            string output = Path.Combine(dir, "out.gguf");
            ModelConverter.Convert(source, output, new ConvertOptions(OutputType.Q8_0, Tokenizer: SyntheticCheckpoint.Tokenizer(Small.Vocab)));

            var expected = source.Tensors.SelectMany(t => new[] { "read " + t.SourceName, "release " + t.SourceName });
            Assert.Equal(expected, source.Events);
            using var g = GgufReader.Open(output);
            Assert.Equal(source.Tensors.Count, g.Tensors.Count);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Synthetic_checkpoint_has_the_shape_it_names_and_converts()
    {
        string dir = Directory.CreateTempSubdirectory("synthetic-").FullName;
        try
        {
            string hf = Path.Combine(dir, "hf");
            SyntheticCheckpoint.WriteHf(hf, Small, shards: 3);
            Assert.Equal(3, Directory.GetFiles(hf, "*.safetensors").Length);
            using var source = ModelConverter.OpenSource(hf);
            Assert.Equal((Small.Dim, Small.Layers, Small.Heads, Small.KvHeads, Small.FfnDim, Small.Vocab),
                         (source.Config.Dim, source.Config.NLayers, source.Config.NHeads, source.Config.NKvHeads, source.Config.FfnDim, source.Config.VocabSize));
            Assert.Equal(Small.Parameters, source.Tensors.Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b)));
            Assert.Equal(6_738_415_616L, SyntheticShape.Llama7B.Parameters);   // LLaMA-7B's published count
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Convert_benchmark_measures_every_type_against_bf16_and_cleans_up()
    {
        string dir = Directory.CreateTempSubdirectory("convert-bench-").FullName;
        try
        {
            var r = ConvertBenchmark.Run(new ConvertBenchOptions([OutputType.Q8_0, OutputType.Q4_K], dir, Shape: Small), _ => { });
            Assert.Equal(OutputType.BF16, r.Baseline.Type);
            Assert.Equal([OutputType.Q8_0, OutputType.Q4_K], r.Runs.Select(m => m.Type));
            Assert.InRange(r.InputBytes, Small.Parameters * 2, Small.Parameters * 2 + (64 << 10));   // bf16 weights + shard headers
            Assert.All(r.Runs.Prepend(r.Baseline), m => Assert.True(m.Seconds > 0 && m.OutputBytes > 0));
            Assert.True(r.Runs[0].OutputBytes < r.Baseline.OutputBytes);    // Q8_0 is ~8.5 bits a weight, BF16 16
            if (OperatingSystem.IsLinux()) Assert.All(r.Runs, m => Assert.True(m.PeakRssBytes > 0));
            Assert.Empty(Directory.GetFileSystemEntries(dir));                 // checkpoint and outputs removed
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
