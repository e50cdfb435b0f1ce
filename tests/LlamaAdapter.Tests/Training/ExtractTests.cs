using LlamaAdapter.Core.Data;
using LlamaAdapter.Training.Checkpoints;
using LlamaAdapter.Training.Pipeline;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Training;

public sealed class ExtractTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("extract-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Extract_KeepsOnlyTheTrainedAdapterTensors_WithTheirConfigurationAndBaseFingerprint()
    {
        var records = Enumerable.Range(0, 8).Select(i => new AlpacaExample($"Q{i}", "", $"A{i}")).ToList();
        var data = TrainingData.FromAlpaca(records, new AlpacaEncoder(new ByteTokenizer(), 160), DataSplit.Create(8, validationCount: 2));
        using var m = new TinyGatedLm(7);
        var adapter = new Dictionary<string, string> { ["kind"] = "linear", ["prompt_len"] = "3", ["layers"] = "1" };
        using var t = new Trainer(m, data, new TrainerOptions { Epochs = 2, WarmupEpochs = 1, BatchSize = 2, AccumSteps = 1, BaseLr = 1.0 }, adapter);
        var result = t.Run(Path.Combine(_dir, "run"));

        string outPath = Path.Combine(_dir, "adapter.safetensors");
        AdapterExtractor.Extract(CheckpointDirectory.Resolve(Path.Combine(_dir, "run")), outPath);
        var (tensors, meta) = TensorFile.Read(outPath);

        var trainable = m.named_parameters().Where(p => p.parameter.requires_grad).ToDictionary(p => p.name, p => p.parameter);
        Assert.Equal(trainable.Keys.Order(StringComparer.Ordinal), tensors.Keys.Order(StringComparer.Ordinal));   // no frozen weight, no optimizer state
        foreach (var (name, p) in trainable)
        {
            Assert.Equal(p.shape, tensors[name].Shape);
            Assert.Equal(p.detach().data<float>().ToArray(), tensors[name].AsFloats());                          // raw, bit for bit
        }
        Assert.Equal(AdapterExtractor.FormatName, meta["format"]);
        Assert.Equal("linear", meta["adapter.kind"]);
        Assert.Equal("3", meta["adapter.prompt_len"]);
        Assert.Equal(BaseModelFingerprint.Compute(m), meta["base_model.fingerprint"]);
        Assert.StartsWith("sha256:", meta["base_model.fingerprint"]);
        Assert.Equal(result.Steps.ToString(), meta["training.steps"]);
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void Fingerprint_ChangesWithTheFrozenWeights_NotWithTheAdapter()
    {
        using var a = new TinyGatedLm(1);
        using var b = new TinyGatedLm(1);
        Assert.Equal(BaseModelFingerprint.Compute(a), BaseModelFingerprint.Compute(b));
        using (no_grad())
        {
            a.named_parameters().First(p => p.name == "adapter_query.weight").parameter.add_(1);
            Assert.Equal(BaseModelFingerprint.Compute(a), BaseModelFingerprint.Compute(b));
            a.named_parameters().First(p => p.name == "tok_embeddings.weight").parameter[0, 0] = tensor(42f);
        }
        Assert.NotEqual(BaseModelFingerprint.Compute(a), BaseModelFingerprint.Compute(b));
    }
}
