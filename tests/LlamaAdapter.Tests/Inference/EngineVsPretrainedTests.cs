using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Training.Loading;
using Xunit.Abstractions;

namespace LlamaAdapter.Tests.Inference;

/// <summary>
/// GGUF files written by the loading code's own TinyLlamaFactory, read twice: by our ggml engine and by
/// PretrainedLlama (the TorchSharp model, Interleaved rotary). Covers rope_freqs.weight (Llama-3 scaling), which
/// the engine hands to ggml_rope_ext and PretrainedLlama turns back into a scaling config.
/// </summary>
public sealed class EngineVsPretrainedTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("engine-pre-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void LogitsAtEveryPosition_MatchPretrainedLlama(bool tied, bool llama3Rope)
    {
        var config = TinyLlamaFactory.DefaultConfig(tied);
        if (llama3Rope)
            config = config with { RopeScaling = new RopeScaling(RopeScalingType.Llama3, 8.0, 1.0, 4.0, OriginalContextLength: 8192), RopeTheta = 500000 };
        var weights = TinyLlamaFactory.Create(config, seed: 4);
        string path = Path.Combine(_dir, "tiny.gguf");
        TinyLlamaFactory.WriteGguf(weights, path);

        int[] ids = EngineParityTests.Prompt(120, config.VocabSize, seed: 3);
        using var reference = PretrainedLlama.Load(path);
        float[] expected = EngineParityTests.TorchLogits(reference, ids);
        using var model = GgmlLlamaModel.Load(path);
        using var session = new LlamaSession(model, cacheType: GgmlType.F32);
        float[] ours = session.Evaluate(ids, allLogits: true);
        double diff = EngineParityTests.MaxAbsDiff(expected, ours);
        output.WriteLine($"tied={tied} llama3={llama3Rope}: max |ggml − PretrainedLlama| = {diff:E3}");
        Assert.True(diff <= 1e-4, $"{diff:E3} > 1e-4");
    }

    [Fact]
    public void Llama3RopeFactors_ChangeTheLogits()
    {
        // Guards the test above: without rope_freqs.weight the same weights must give visibly different logits.
        var config = TinyLlamaFactory.DefaultConfig() with
        {
            RopeScaling = new RopeScaling(RopeScalingType.Llama3, 8.0, 1.0, 4.0, OriginalContextLength: 8192), RopeTheta = 500000,
        };
        var weights = TinyLlamaFactory.Create(config, seed: 4);
        string scaled = Path.Combine(_dir, "scaled.gguf"), plain = Path.Combine(_dir, "plain.gguf");
        TinyLlamaFactory.WriteGguf(weights, scaled);
        TinyLlamaFactory.WriteGguf(weights with { Config = config with { RopeScaling = null } }, plain);
        int[] ids = EngineParityTests.Prompt(120, config.VocabSize, seed: 3);
        float[] Run(string p)
        {
            using var m = GgmlLlamaModel.Load(p);
            using var s = new LlamaSession(m, cacheType: GgmlType.F32);
            return s.Evaluate(ids, allLogits: true);
        }
        double moved = EngineParityTests.MaxAbsDiff(Run(scaled), Run(plain));
        output.WriteLine($"rope_freqs move the logits by {moved:E3}");
        Assert.True(moved > 1e-3, $"{moved:E3}: 10× the parity tolerance expected");
    }
}
