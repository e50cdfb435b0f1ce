using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Bench;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Training.Bench;
using LlamaAdapter.Training.Loading;
using Xunit.Abstractions;

namespace LlamaAdapter.Tests.Inference;

/// <summary>
/// The engine benchmark's plumbing on a small random model (the speeds themselves are measured by
/// <c>llama-adapter bench engine</c>, not asserted): libllama loads the very file ours runs and agrees on its
/// logits, every rep is recorded, and the statistics are what they say.
/// </summary>
public sealed class EngineBenchmarkTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("engine-bench-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (string Model, string Adapter) Write(GgmlType type)
    {
        var config = RandomBenchModel.Config(dim: 128, layers: 2, vocab: 512, contextLength: 512);
        var weights = TinyLlamaFactory.Create(config, seed: 4);
        string model = Path.Combine(_dir, $"m-{type}.gguf"), adapter = Path.Combine(_dir, "a.gguf");
        RandomBenchModel.WriteModel(weights, model, type);
        RandomBenchModel.WriteAdapter(weights, adapter, promptLength: 10);
        return (model, adapter);
    }

    [Theory]
    [InlineData(GgmlType.F32, 1e-4)]
    [InlineData(GgmlType.Q8_0, 1e-4)]
    public void Run_MeasuresBothEnginesOnTheSameFile(GgmlType type, double tolerance)
    {
        var (model, adapter) = Write(type);
        var r = EngineBenchmark.Run(new EngineBenchOptions(model, Threads: 1, PromptTokens: 16, DecodeTokens: 4, Reps: 3, AdapterPath: adapter));
        output.WriteLine($"{type}: max |Δlogit| {r.PromptLogitsMaxAbsDiff:E2}; " +
                         string.Join("; ", r.VersusLlamaCpp.Select(c => $"{c.Test} {c.Ours.TokensPerSecond:0}/{c.Baseline.TokensPerSecond:0} tok/s")));
        Assert.True(r.PromptLogitsMaxAbsDiff <= tolerance, $"ours vs libllama after the prompt: {r.PromptLogitsMaxAbsDiff:E3} > {tolerance}");
        Assert.Equal([EngineBenchmark.Prompt, EngineBenchmark.Decode], r.VersusLlamaCpp.Select(c => c.Test));
        Assert.Equal([EngineBenchmark.Prompt, EngineBenchmark.Decode], r.AdapterOverhead.Select(c => c.Test));
        foreach (var c in r.VersusLlamaCpp.Concat(r.AdapterOverhead))
        {
            Assert.Equal(3, c.Ours.Seconds.Count);
            Assert.Equal(3, c.Baseline.Seconds.Count);
            Assert.All(c.Ours.Seconds.Concat(c.Baseline.Seconds), s => Assert.True(s > 0));
            Assert.Equal(c.Test == EngineBenchmark.Prompt ? 16 : 4, c.Ours.Tokens);
        }
        Assert.Equal(EngineBenchmark.LlamaCpp, r.VersusLlamaCpp[0].Baseline.Engine);
        Assert.Equal(EngineBenchmark.OursAdapter, r.AdapterOverhead[0].Ours.Engine);
        Assert.Equal(256, r.ContextSize);
    }

    [Fact]
    public void Statistics_MedianRatioOverhead()
    {
        var a = new EngineMeasurement("ours", "decode", 10, [0.3, 0.1, 0.2]);
        var b = new EngineMeasurement("libllama", "decode", 10, [0.4, 0.1, 0.25, 0.15]);
        Assert.Equal(0.2, a.MedianSeconds, 12);
        Assert.Equal(0.2, b.MedianSeconds, 12);                 // even count: mean of the middle two
        Assert.Equal(50, a.TokensPerSecond, 9);
        var c = new EngineComparison("decode", new EngineMeasurement("ours", "decode", 10, [0.22]), b);
        Assert.Equal(0.2 / 0.22, c.Ratio, 9);
        Assert.Equal(10, c.OverheadPercent, 9);
        Assert.Equal(100, b.BestTokensPerSecond, 9);           // fastest rep 0.1 s
        Assert.Equal(10 / 0.22 / 100, c.BestRatio, 9);
        Assert.Equal(120, c.BestOverheadPercent, 9);           // 0.22 s against 0.1 s
    }

    [Fact]
    public void Options_AreChecked()
    {
        Assert.Throws<ArgumentException>(() => new EngineBenchOptions("m", Threads: 0).Validate());
        Assert.Throws<ArgumentException>(() => new EngineBenchOptions("m", 1, Reps: 0).Validate());
        Assert.Throws<ArgumentException>(() => new EngineBenchOptions("m", 1, PromptTokens: 0).Validate());
        Assert.Throws<ArgumentException>(() => new EngineBenchOptions("m", 1, DecodeTokens: 0).Validate());
        Assert.Equal(256, new EngineBenchOptions("m", 1, 128, 128).ContextSize);
        Assert.Equal(512, new EngineBenchOptions("m", 1, 128, 129).ContextSize);
    }

    [Fact]
    public void TooLongForTheModel_IsBadInput()
    {
        var (model, _) = Write(GgmlType.F32);
        var e = Assert.Throws<LlamaAdapter.Core.BadInputException>(() =>
            EngineBenchmark.Run(new EngineBenchOptions(model, 1, PromptTokens: 500, DecodeTokens: 100)));
        Assert.Contains("context length is 512", e.Message);
    }

    [Fact]
    public void LibllamaContext_DecodesLikeOurs_AndRefusesOverflow()
    {
        var (model, _) = Write(GgmlType.F32);
        using var theirs = LlamaCppContext.Open(model, threads: 1, contextSize: 100, batchSize: 64, GgmlType.F32, flashAttention: false);
        Assert.Equal(256, theirs.ContextSize);
        using var ggml = GgmlLlamaModel.Load(model, threads: 1);
        using var ours = new LlamaSession(ggml, cacheType: GgmlType.F32, contextSize: 256);
        int[] ids = [1, 17, 300, 42, 5, 511];
        theirs.Decode(ids.AsSpan(0, 4));
        theirs.Decode(ids.AsSpan(4, 2));
        ours.Evaluate(ids.AsSpan(0, 4));
        float[] mine = ours.Evaluate(ids.AsSpan(4, 2));
        float[] reference = theirs.LastLogits();
        double diff = mine.Zip(reference, (x, y) => Math.Abs(x - y)).Max();
        Assert.True(diff < 1e-4, $"{diff:E3}");
        Assert.Equal(6, theirs.Position);
        Assert.Throws<ArgumentException>(() => theirs.Decode(new int[65]));                  // over n_batch
        theirs.Reset();
        Assert.Equal(0, theirs.Position);
    }

    [Fact]
    public void DecodeSteps_DoNotGrowTheReservedComputeBuffer()
    {
        var (model, _) = Write(GgmlType.Q8_0);
        using var ggml = GgmlLlamaModel.Load(model, threads: 1);
        using var session = new LlamaSession(ggml, contextSize: 64);
        long reserved = session.ComputeBufferBytes;
        Assert.True(reserved > 0);
        var logits = new float[ggml.Config.VocabSize];
        session.Evaluate([1], logits);
        for (int i = 0; i < 62; i++) session.Evaluate([(i * 31) % 512], logits);
        Assert.Equal(reserved, session.ComputeBufferBytes);
        Assert.Throws<ArgumentException>(() => session.Evaluate([1], new float[3]));
    }
}
