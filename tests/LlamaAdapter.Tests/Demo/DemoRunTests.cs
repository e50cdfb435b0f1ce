using LlamaAdapter.Demo;

namespace LlamaAdapter.Tests.Demo;

/// <summary>
/// The whole demo pipeline at its quick size: pretraining from scratch, every method tuned with the real trainer,
/// GGUF conversion, the ggml engine (and TorchSharp for BitFit) answering held-out questions. The numbers must be
/// sane: every method that trained has a lower held-out loss than the frozen model on the held-apart tasks, the best
/// answers clearly more questions right, and the files a user is pointed to exist.
/// </summary>
public sealed class DemoRunTests
{
    [Fact]
    public async Task QuickDemoAdaptersBeatTheFrozenModel()
    {
        string dir = Directory.CreateTempSubdirectory("demo-run-").FullName;
        try
        {
            var result = await new DemoRunner(DemoSettings.Quick, dir).RunAsync();
            var rows = result.Rows.ToDictionary(r => r.Method);
            Assert.Equal(Enum.GetValues<DemoMethod>(), rows.Keys.Order());
            var frozen = rows[DemoMethod.Frozen];
            Assert.Equal(0, frozen.TrainableParameters);
            Assert.True(frozen.ValidationLoss is > 0 and < 20, $"frozen validation loss {frozen.ValidationLoss}");
            foreach (var row in result.Rows.Where(r => r.Method != DemoMethod.Frozen))
            {
                Assert.True(row.TrainableParameters > 0, $"{row.Method}: no trainable parameters");
                Assert.Equal(DemoSettings.Quick.EvalItems, row.Answers.Count);
                // Every method learned the held-apart tasks: its loss on held-out records is well below the frozen model's.
                Assert.True(row.ValidationLoss < 0.9 * frozen.ValidationLoss,
                            $"{row.Method}: validation loss {row.ValidationLoss:0.000} vs frozen {frozen.ValidationLoss:0.000}");
            }
            // And it shows in the answers: the best method beats the frozen model on the multiple choice.
            var best = result.Rows.Where(r => r.Method != DemoMethod.Frozen).MaxBy(r => r.ChoiceAccuracy)!;
            Assert.True(best.ChoiceAccuracy >= frozen.ChoiceAccuracy + 0.1,
                        $"best ({best.Method}) {best.ChoiceAccuracy:P1} vs frozen {frozen.ChoiceAccuracy:P1} (multiple choice)");
            Assert.True(File.Exists(result.LossPlot) && new FileInfo(result.LossPlot).Length > 1000, "loss-curves.png");
            Assert.True(File.Exists(result.BaseQuantized));
            Assert.True(File.Exists(Path.Combine(dir, "results.json")));
            Assert.True(File.Exists(Path.Combine(dir, "linear", "adapter.gguf")));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}

public sealed class DemoBadInputTests
{
    [Fact]
    public async Task TooFewRealRecordsAreAClearErrorBeforeAnyTraining()
    {
        string dir = Directory.CreateTempSubdirectory("demo-bad-").FullName;
        try
        {
            string data = Path.Combine(dir, "tiny.json");
            File.WriteAllText(data, """[{"instruction": "Say hi.", "input": "", "output": "hi"}]""");
            var e = await Assert.ThrowsAsync<LlamaAdapter.Core.BadInputException>(
                () => new DemoRunner(DemoSettings.Quick with { Data = data }, Path.Combine(dir, "out")).RunAsync());
            Assert.Contains("tiny.json: 1 records", e.Message);
            Assert.False(Directory.Exists(Path.Combine(dir, "out", "base")), "nothing was trained");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
