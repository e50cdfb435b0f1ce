using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Bench;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Training;

/// <summary>The train-step benchmark runs end to end on a tiny shape; its FLOP formula matches a hand count.</summary>
public sealed class TrainStepBenchTests
{
    [Theory]
    [InlineData(ScalarType.Float32, AdapterKind.Linear)]
    [InlineData(ScalarType.BFloat16, AdapterKind.Nonlinear)]
    public void TinyShape_TwoSteps_ReportsPositiveNumbers(ScalarType dtype, AdapterKind kind)
    {
        var o = new TrainStepBenchOptions
        {
            Config = TrainStepShape.Preset("tiny"), Batch = 2, SeqLen = 16, PromptLength = 3, AdapterLayers = 2,
            Kind = kind, DType = dtype, WarmupSteps = 1, Steps = 2, ChunkTokens = 7,
        };
        var r = TrainStepBench.Run(o);

        Assert.Equal(2, r.StepSeconds.Count);
        Assert.All(r.StepSeconds, s => Assert.True(s > 0));
        Assert.True(r.TokensPerSecond > 0);
        Assert.True(r.ModelTflops > 0 && r.ExecutedTflops > 0);
        Assert.True(r.ExecutedTflops < r.ModelTflops, "a frozen base does less than a full fine-tune");
        Assert.True(r.PeakMemoryBytes > 0, r.MemoryWhat);
        Assert.True(r.TrainableParams > 0 && r.TrainableParams < r.TotalParams);
        // Random tokens over a 512-word vocabulary: the loss starts near ln 512 ≈ 6.24.
        Assert.All(r.Losses, l => Assert.InRange(l, 4.0, 9.0));
    }

    [Fact]
    public void ChunkedAndFullLogits_TrainTheSame()
    {
        var o = new TrainStepBenchOptions
        {
            Config = TrainStepShape.Preset("tiny"), Batch = 2, SeqLen = 12, PromptLength = 3, AdapterLayers = 3,
            DType = ScalarType.Float32, WarmupSteps = 1, Steps = 3, ChunkTokens = 5, Seed = 4,
        };
        var chunked = TrainStepBench.Run(o);
        var full = TrainStepBench.Run(o with { FullLogits = true });
        // Same seed, same weights and tokens: the losses after AdamW steps agree to float32 summation order.
        for (int i = 0; i < 3; i++) Assert.True(Math.Abs(chunked.Losses[i] - full.Losses[i]) <= 1e-5, $"step {i}: chunked {string.Join(",", chunked.Losses)} full {string.Join(",", full.Losses)}");
        Assert.NotEqual(chunked.Losses[0], chunked.Losses[2]);               // AdamW did move the adapter
    }

    [Fact]
    public void Weights_HaveTheChosenDTypeAndAreFrozen()
    {
        using var m = TrainStepBench.BuildRandom(TrainStepShape.Preset("tiny"), ScalarType.BFloat16, CPU);
        Assert.All(m.named_parameters(), p =>
        {
            Assert.Equal(ScalarType.BFloat16, p.parameter.dtype);
            Assert.False(p.parameter.requires_grad);
        });
        using var emb = m.named_parameters().First(p => p.name == "tok_embeddings.weight").parameter.to_type(ScalarType.Float32);
        Assert.True(emb.std().item<float>() > 0.3, "embeddings are random, not zeros");
    }

    [Fact]
    public void Flops_For7B_MatchHandCount()
    {
        var f = TrainStepFlops.For(TrainStepShape.Preset("7b"), seqLen: 512, adapterLayers: 30);
        // N = 32·(4·4096² + 3·4096·11008) + 32000·4096
        Assert.Equal(6_607_077_376L, f.MatmulParams);
        Assert.Equal(6.0 * 6_607_077_376 + 12.0 * 32 * 4096 * 512, f.ModelPerToken);
        double layer = 4.0 * 4096 * 4096 + 3.0 * 4096 * 11008, head = 32000.0 * 4096;
        Assert.Equal(2.0 * 6_607_077_376 + 4.0 * 32 * 4096 * 512 + 2 * (30 * layer + head) + 8.0 * 30 * 4096 * 512, f.ExecutedPerToken);
    }

    [Fact]
    public void BadOptions_AreRefusedBeforeAnyWork()
    {
        var ok = new TrainStepBenchOptions { Config = TrainStepShape.Preset("tiny") };
        Assert.Throws<ArgumentException>(() => TrainStepBench.Run(ok with { AdapterLayers = 5 }));
        Assert.Throws<ArgumentException>(() => TrainStepBench.Run(ok with { SeqLen = 1 }));
        Assert.Throws<ArgumentException>(() => TrainStepBench.Run(ok with { DType = ScalarType.Int32 }));
        Assert.Throws<ArgumentException>(() => TrainStepShape.Preset("70b"));
    }
}
