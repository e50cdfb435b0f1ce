using LlamaAdapter.Core;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Adapters;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Tests.Model;
using LlamaAdapter.Training.Adapters;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Inference;

/// <summary>
/// Several sequences in one graph (<see cref="LlamaSession.EvaluateSequences"/>) against each sequence evaluated
/// alone in a fresh session: the block-causal mask must keep them apart exactly, with and without an adapter
/// (gated prompts, and prefix prompts that every sequence sees through the mask).
/// </summary>
public sealed class SequenceBatchTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("engine-seqs-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(null)]
    [InlineData(AdapterKind.Linear)]
    [InlineData(AdapterKind.Prefix)]
    public void EachSequence_EqualsItsOwnEvaluation(AdapterKind? kind)
    {
        var tiny = new TinyLlama(TinyLlama.DefaultConfig());
        var (modelPath, adapterPath) = TinyGguf.WriteModelAndAdapter(tiny, _dir, kind);
        using var model = GgmlLlamaModel.Load(modelPath, threads: 1);
        using var prompts = adapterPath is null ? null : GgmlPromptAdapter.Load(adapterPath, model);
        int vocab = tiny.Config.VocabSize;
        var rng = new Random(9);
        int[][] seqs = [.. new[] { 7, 1, 12, 5 }.Select(len => Enumerable.Range(0, len).Select(_ => rng.Next(vocab)).ToArray())];

        using var batch = new LlamaSession(model, prompts, cacheType: GgmlType.F32);
        batch.Evaluate([3, 4, 5]);                                       // whatever was cached before is irrelevant
        float[][] together = batch.EvaluateSequences(seqs);
        Assert.Equal(0, batch.Position);

        double worst = 0;
        for (int s = 0; s < seqs.Length; s++)
        {
            using var alone = new LlamaSession(model, prompts, cacheType: GgmlType.F32);
            float[] expected = alone.Evaluate(seqs[s], allLogits: true);
            Assert.Equal(expected.Length, together[s].Length);
            worst = Math.Max(worst, EngineParityTests.MaxAbsDiff(expected, together[s]));
        }
        output.WriteLine($"{kind?.ToString() ?? "no adapter"}: max |batched − alone| = {worst:E3} over {seqs.Length} sequences");
        Assert.True(worst <= 1e-5, $"{worst:E3} > 1e-5");

        // The session still works as a single sequence afterwards.
        using var check = new LlamaSession(model, prompts, cacheType: GgmlType.F32);
        Assert.True(EngineParityTests.MaxAbsDiff(check.Evaluate(seqs[0]), batch.Evaluate(seqs[0])) <= 1e-6);
    }

    [Fact]
    public void BadSequences_AreRefusedBeforeGgml()
    {
        var tiny = new TinyLlama(TinyLlama.DefaultConfig());
        string modelPath = Path.Combine(_dir, "tiny.gguf");
        TinyGguf.WriteModel(tiny, modelPath);
        using var model = GgmlLlamaModel.Load(modelPath, threads: 1);
        using var session = new LlamaSession(model, contextSize: 16);
        Assert.Throws<ArgumentException>(() => session.EvaluateSequences([]));
        Assert.Throws<ArgumentException>(() => session.EvaluateSequences([[1, 2], []]));
        var e = Assert.Throws<BadInputException>(() => session.EvaluateSequences([[1, 2], [3, 97]]));
        Assert.Contains("sequence 1 token 1 is id 97", e.Message);
        Assert.Throws<BadInputException>(() => session.EvaluateSequences([new int[10], new int[7]]));
        Assert.Equal(2, session.EvaluateSequences([new int[10], new int[6]]).Length);
    }
}
