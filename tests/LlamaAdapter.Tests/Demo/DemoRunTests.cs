using LlamaAdapter.Demo;

namespace LlamaAdapter.Tests.Demo;

/// <summary>
/// The whole demo pipeline at its quick size: pretraining from scratch, every method tuned with the real trainer,
/// GGUF conversion, the ggml engine (and TorchSharp for BitFit) answering held-out questions. The numbers must be
/// sane: everything that trained beats the frozen model on the held-apart tasks, and the files a user is pointed to exist.
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
            foreach (var row in result.Rows.Where(r => r.Method != DemoMethod.Frozen))
            {
                Assert.True(row.TrainableParameters > 0, $"{row.Method}: no trainable parameters");
                Assert.True(row.ValidationLoss is > 0 and < 10, $"{row.Method}: validation loss {row.ValidationLoss}");
                Assert.Equal(DemoSettings.Quick.EvalItems, row.Answers.Count);
            }
            // The paper's claim in miniature: tuned prompts help where the frozen model cannot follow a new instruction.
            var best = result.Rows.Where(r => r.Method is DemoMethod.Linear or DemoMethod.Nonlinear).Max(r => r.ChoiceAccuracy);
            Assert.True(best > frozen.ChoiceAccuracy, $"gated prompts {best:P1} vs frozen {frozen.ChoiceAccuracy:P1} (multiple choice)");
            Assert.True(rows[DemoMethod.Lora].ChoiceAccuracy > frozen.ChoiceAccuracy, $"LoRA {rows[DemoMethod.Lora].ChoiceAccuracy:P1} vs frozen {frozen.ChoiceAccuracy:P1}");
            Assert.True(File.Exists(result.LossPlot) && new FileInfo(result.LossPlot).Length > 1000, "loss-curves.png");
            Assert.True(File.Exists(result.BaseQuantized));
            Assert.True(File.Exists(Path.Combine(dir, "results.json")));
            Assert.True(File.Exists(Path.Combine(dir, "linear", "adapter.gguf")));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
