using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Adapters;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Tests.Model;
using LlamaAdapter.Training.Adapters;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Inference;

/// <summary>
/// The reused decode graph (<see cref="DecodeGraph"/>: attended length padded to 256, cache slot and mask as inputs)
/// against one batched evaluation of the same tokens, which builds its graph for exactly the positions it covers:
/// token-by-token decoding past a padding boundary, and again after a rewind back across it.
/// </summary>
public sealed class DecodeGraphReuseTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("engine-decode-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(null)]
    [InlineData(AdapterKind.Linear)]
    [InlineData(AdapterKind.Prefix)]
    public void DecodingPastThePadding_EqualsOneBatch(AdapterKind? kind)
    {
        var tiny = new TinyLlama(TinyLlama.DefaultConfig() with { ContextLength = 512 }, seed: 3);
        var (modelPath, adapterPath) = TinyGguf.WriteModelAndAdapter(tiny, _dir, kind);
        using var model = GgmlLlamaModel.Load(modelPath, threads: 1);
        using var prompts = adapterPath is null ? null : GgmlPromptAdapter.Load(adapterPath, model);
        int vocab = tiny.Config.VocabSize;
        var rng = new Random(21);
        int[] tokens = [.. Enumerable.Range(0, 300).Select(_ => rng.Next(vocab))];
        const int prompt = 5;

        using var stepwise = new LlamaSession(model, prompts, contextSize: 512, cacheType: GgmlType.F32);
        var steps = new float[tokens.Length * vocab];
        stepwise.Evaluate(tokens.AsSpan(0, prompt), steps.AsSpan(0, prompt * vocab), allLogits: true);
        for (int i = prompt; i < tokens.Length; i++) stepwise.Evaluate(tokens.AsSpan(i, 1), steps.AsSpan(i * vocab, vocab));
        Assert.Equal(300, stepwise.Position);
        Assert.Equal(2, stepwise.DecodeGraphBuilds);                    // positions 5..255 attend 256 slots, 256..299 attend 512

        using var batched = new LlamaSession(model, prompts, contextSize: 512, cacheType: GgmlType.F32);
        float[] expected = batched.Evaluate(tokens, allLogits: true);
        double worst = EngineParityTests.MaxAbsDiff(expected, steps);
        output.WriteLine($"{kind?.ToString() ?? "no adapter"}: max |token-by-token − batched| = {worst:E3} over 300 positions");
        Assert.True(worst <= 1e-5, $"{worst:E3} > 1e-5");

        // Back below the boundary and forward across it again with other tokens: stale slots past the position are masked.
        stepwise.Rewind(250);
        int[] other = [.. tokens.Take(250), .. Enumerable.Range(0, 20).Select(_ => rng.Next(vocab))];
        var again = new float[20 * vocab];
        for (int i = 250; i < 270; i++) stepwise.Evaluate(other.AsSpan(i, 1), again.AsSpan((i - 250) * vocab, vocab));
        batched.Reset();
        float[] expectedAgain = batched.Evaluate(other, allLogits: true).AsSpan(250 * vocab).ToArray();
        double worstAgain = EngineParityTests.MaxAbsDiff(expectedAgain, again);
        output.WriteLine($"after rewinding to 250: {worstAgain:E3}");
        Assert.True(worstAgain <= 1e-5, $"{worstAgain:E3} > 1e-5");
    }
}
