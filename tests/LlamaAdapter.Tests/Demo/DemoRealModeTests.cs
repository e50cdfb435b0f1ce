using System.Text.Json;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Demo;
using LlamaAdapter.Tests.Support;
using LlamaAdapter.Training.Loading;

namespace LlamaAdapter.Tests.Demo;

/// <summary>
/// `demo --model M --data D`: no pretraining, the user's base (here a Hugging Face folder with the real LLaMA
/// tokenizer, so the half-split rotary layout and the HF→GGUF conversion are on the path) and the user's Alpaca
/// records, whose last EvalItems are held out and asked as "which response belongs to this instruction".
/// </summary>
public sealed class DemoRealModeTests
{
    [SharedDataFact("tokenizer.model")]
    public async Task RunsOnAHuggingFaceModelAndAlpacaFile()
    {
        string dir = Directory.CreateTempSubdirectory("demo-real-").FullName;
        try
        {
            var config = new LlamaConfig(Dim: 64, NLayers: 2, NHeads: 4, NKvHeads: 2, FfnDim: 160, VocabSize: 32000, ContextLength: 128);
            string model = Path.Combine(dir, "hf");
            TinyLlamaFactory.WriteHuggingFace(TinyLlamaFactory.Create(config, seed: 3), model);
            File.Copy(RepoPaths.SharedFile("tokenizer.model"), Path.Combine(model, "tokenizer.model"));
            string data = Path.Combine(dir, "alpaca.json");
            var records = SyntheticTasks.Examples(SyntheticTasks.HeldApart, 120, seed: 5);
            File.WriteAllText(data, JsonSerializer.Serialize(records.Select(e => new { instruction = e.Instruction, input = e.Input, output = e.Output })));

            var settings = DemoSettings.Quick with
            {
                BaseModel = model, Data = data, MaxSeqLen = 64, EvalItems = 12, ValidationExamples = 16, AdapterEpochs = 1,
                Methods = [DemoMethod.Frozen, DemoMethod.Linear, DemoMethod.Lora],
            };
            var result = await new DemoRunner(settings, Path.Combine(dir, "out")).RunAsync();

            Assert.Equal([DemoMethod.Frozen, DemoMethod.Linear, DemoMethod.Lora], result.Rows.Select(r => r.Method));
            Assert.Equal(0, result.PretrainSeconds);
            Assert.Equal(model, result.BaseModel);
            foreach (var row in result.Rows)
            {
                Assert.Equal(12, row.Answers.Count);
                Assert.True(row.ValidationLoss is > 0 and < 20, $"{row.Method}: validation loss {row.ValidationLoss}");
                Assert.All(row.Answers, a => Assert.Contains(a.Expected, records.Skip(108).Select(r => r.Output)));
            }
            Assert.Contains("LoRA", result.Rows[2].Engine);     // llama.cpp's LoRA GGUF, permuted from the HF layout
            Assert.True(File.Exists(Path.Combine(dir, "out", "lora", "lora.gguf")));
            Assert.True(File.Exists(Path.Combine(dir, "out", "linear", "adapter.gguf")));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
