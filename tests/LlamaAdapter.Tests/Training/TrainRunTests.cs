using System.Text.Json;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Data;
using LlamaAdapter.Training.Pipeline;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Training;

public sealed class TrainRunTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("trainrun-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string DataFile(int n)
    {
        string p = Path.Combine(_dir, "data.json");
        File.WriteAllText(p, JsonSerializer.Serialize(Enumerable.Range(0, n).Select(i => new { instruction = $"Count to {i}", input = "", output = string.Join(" ", Enumerable.Range(1, i % 4 + 1)) })));
        return p;
    }

    [Fact]
    public async Task FromAFile_TrainsThenRefusesToOverwrite_AndResumesWhenAsked()
    {
        var settings = new TrainRunSettings(DataFile(20), Path.Combine(_dir, "out"),
            new TrainerOptions { Epochs = 2, WarmupEpochs = 1, BatchSize = 2, AccumSteps = 2, BaseLr = 0.5 },
            MaxSeqLen: 160, MaxExamples: 12, ValidationCount: 4);
        using var m = new TinyGatedLm(3);
        var (t, from) = await TrainRun.PrepareAsync(settings, m, new ByteTokenizer(), new Dictionary<string, string>());
        Assert.Null(from);
        using (t)
        {
            Assert.Equal(3, t.StepsPerEpoch);                   // 12 examples → 6 batches → 3 steps
            var r = t.Run(settings.OutDir);
            Assert.Equal(6, r.Steps);
        }
        await Assert.ThrowsAsync<BadInputException>(() => TrainRun.PrepareAsync(settings, m, new ByteTokenizer(), new Dictionary<string, string>()));
        var (t2, from2) = await TrainRun.PrepareAsync(settings with { Resume = settings.OutDir }, m, new ByteTokenizer(), new Dictionary<string, string>());
        using (t2)
        {
            Assert.EndsWith("checkpoint-step6.safetensors", from2);
            Assert.Equal(6, t2.Step);
            Assert.Equal(6, t2.Run(settings.OutDir).Steps);     // already done: nothing more to run
        }
    }

    [Fact]
    public async Task CorruptedRecord_IsNamedByIndex_AndSkipBadCountsIt()
    {
        string p = DataFile(20);
        var records = JsonSerializer.Deserialize<List<Dictionary<string, object>>>(File.ReadAllText(p))!;
        records[13].Remove("output");
        File.WriteAllText(p, JsonSerializer.Serialize(records));
        var settings = new TrainRunSettings(p, Path.Combine(_dir, "bad"),
            new TrainerOptions { Epochs = 1, WarmupEpochs = 0, BatchSize = 2, AccumSteps = 1, BaseLr = 0.5 }, MaxSeqLen: 160, ValidationCount: 4);
        using var m = new TinyGatedLm(1);
        var e = await Assert.ThrowsAsync<AlpacaRecordException>(() => TrainRun.PrepareAsync(settings, m, new ByteTokenizer(), new Dictionary<string, string>()));
        Assert.Contains("record 13", e.Message);
        Assert.Contains("'output'", e.Message);

        var (t, _) = await TrainRun.PrepareAsync(settings with { SkipBad = true }, m, new ByteTokenizer(), new Dictionary<string, string>());
        using (t)
        {
            Assert.Equal(1, t.SkippedRecords);
            Assert.Equal(19 / 2, t.StepsPerEpoch);                // 19 usable records (the reference also trains on its validation ones), batches of 2
        }
    }

    [Fact]
    public async Task MissingDataFile_IsAUserError()
    {
        using var m = new TinyGatedLm(0);
        var s = new TrainRunSettings(Path.Combine(_dir, "nope.json"), _dir, new TrainerOptions());
        await Assert.ThrowsAsync<FileNotFoundException>(() => TrainRun.PrepareAsync(s, m, new ByteTokenizer(), new Dictionary<string, string>()));
    }
}
