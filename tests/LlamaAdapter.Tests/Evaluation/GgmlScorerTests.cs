using LlamaAdapter.Core.Native;
using LlamaAdapter.Evaluation.Scoring;
using LlamaAdapter.Inference.Adapters;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Tests.Inference;
using LlamaAdapter.Tests.Model;
using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Loading;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Evaluation;

/// <summary>The ggml engine's log-likelihoods (KV cache reused across a shared context) against the TorchSharp scorer.</summary>
public class GgmlScorerTests(ITestOutputHelper output)
{
    [Fact]
    public void GgmlScores_EqualTorchScores_WithSharedContextsAndTruncation()
    {
        using var dir = new TempDir();
        var config = TinyLlamaFactory.DefaultConfig() with { ContextLength = 48 };
        var weights = TinyLlamaFactory.Create(config, seed: 9);
        string path = dir.Combine("tiny.gguf");
        TinyLlamaFactory.WriteGguf(weights, path);

        var rng = new Random(5);
        int[] Ids(int n) => Enumerable.Range(0, n).Select(_ => rng.Next(3, config.VocabSize)).ToArray();
        var requests = new List<LogLikelihoodRequest>();
        for (int q = 0; q < 4; q++)
        {
            int[] context = [1, .. Ids(5 + 6 * q)];
            for (int c = 0; c < 3; c++) requests.Add(new LogLikelihoodRequest(context, Ids(1 + c)));   // a question's choices
        }
        requests.Add(new LogLikelihoodRequest([1, .. Ids(60)], Ids(4)));    // longer than the context: keeps its last tokens
        requests.Add(new LogLikelihoodRequest([1], Ids(1)));                 // BOS only

        using var torchModel = PretrainedLlama.Load(path);
        var expected = new TorchLogLikelihoodModel(torchModel, batchSize: 4).Score(requests);
        using var model = GgmlLlamaModel.Load(path);
        using var session = new LlamaSession(model, cacheType: GgmlType.F32);
        var ours = new GgmlLogLikelihoodModel(session).Score(requests);

        double worst = 0;
        for (int i = 0; i < requests.Count; i++)
        {
            worst = Math.Max(worst, Math.Abs(expected[i].LogProb - ours[i].LogProb));
            Assert.Equal(expected[i].IsGreedy, ours[i].IsGreedy);
        }
        output.WriteLine($"max |ggml − torch| log-likelihood over {requests.Count} requests: {worst:E3}");
        Assert.True(worst <= 1e-4, $"{worst:E3} > 1e-4");
        Assert.True(expected.Select(e => e.LogProb).Distinct().Count() > requests.Count / 2, "the requests should score differently");
    }

    /// <summary>
    /// Batched scoring (requests packed into <see cref="LlamaSession.EvaluateSequences"/> graphs of a token budget,
    /// prefix-sharing requests served by one sequence) against the sequential KV-cache path and the TorchSharp scorer
    /// on the very same weights, with and without an adapter. The mix holds multi-token choices, MMLU-like single-token
    /// choices (one sequence serves a whole question), duplicates, a request longer than the budget (the sequential
    /// fallback) and one truncated to the context; requests come shuffled, so results must follow request order.
    /// </summary>
    [Theory]
    [InlineData(null, 32)]
    [InlineData(null, 17)]
    [InlineData(null, 4096)]      // capped to the context (48)
    [InlineData(AdapterKind.Linear, 32)]
    [InlineData(AdapterKind.Prefix, 32)]
    public void BatchedScores_EqualSequentialAndTorch(AdapterKind? kind, int batchTokens)
    {
        using var dir = new TempDir();
        var tiny = new TinyLlama(TinyLlama.DefaultConfig() with { ContextLength = 48 }, seed: 4);
        string modelPath = dir.Combine("tiny.gguf"), adapterPath = dir.Combine("adapter.gguf");
        TinyGguf.WriteModel(tiny, modelPath);
        using var reference = tiny.Build();
        if (kind is { } k)
        {
            var adapter = reference.AttachNewAdapter(new AdapterConfig(k, PromptLength: 5, Layers: 2), new Generator(5));
            AdapterReference.Perturb(adapter);
            TinyGguf.WriteAdapter(tiny, adapter, adapterPath);
        }

        int vocab = tiny.Config.VocabSize;
        var rng = new Random(11);
        int[] Ids(int n) => Enumerable.Range(0, n).Select(_ => rng.Next(3, vocab)).ToArray();
        var requests = new List<LogLikelihoodRequest>();
        for (int q = 0; q < 3; q++)
        {
            int[] context = [1, .. Ids(4 + 5 * q)];
            for (int c = 0; c < 3; c++) requests.Add(new LogLikelihoodRequest(context, Ids(1 + c)));    // multi-token choices
        }
        for (int q = 0; q < 4; q++)
        {
            int[] context = [1, .. Ids(6 + 2 * q)];
            for (int c = 0; c < 4; c++) requests.Add(new LogLikelihoodRequest(context, [10 + c]));      // " A".." D"
        }
        requests.Add(new LogLikelihoodRequest([1, .. Ids(33)], Ids(3)));   // 36 input tokens: over a 32-token budget
        requests.Add(new LogLikelihoodRequest([1, .. Ids(60)], Ids(4)));   // longer than the context: keeps its last tokens
        requests.Add(new LogLikelihoodRequest([1], Ids(1)));                // BOS only
        requests.Add(requests[2]);                                          // a duplicate
        requests = [.. requests.OrderBy(_ => rng.Next())];

        var expected = new TorchLogLikelihoodModel(reference, batchSize: 5).Score(requests);
        using var model = GgmlLlamaModel.Load(modelPath, threads: 1);
        using var prompts = kind is null ? null : GgmlPromptAdapter.Load(adapterPath, model);
        using var seqSession = new LlamaSession(model, prompts, cacheType: GgmlType.F32);
        var sequential = new GgmlLogLikelihoodModel(seqSession).Score(requests);
        using var batchSession = new LlamaSession(model, prompts, cacheType: GgmlType.F32);
        var batchedModel = new GgmlLogLikelihoodModel(batchSession, batchTokens);
        Assert.Equal(Math.Min(batchTokens, 48), batchedModel.BatchTokens);
        var batched = batchedModel.Score(requests);
        var again = batchedModel.Score(requests);                           // the session is reusable after batches

        double vsSequential = 0, vsTorch = 0, sequentialVsTorch = 0;
        for (int i = 0; i < requests.Count; i++)
        {
            vsSequential = Math.Max(vsSequential, Math.Abs(sequential[i].LogProb - batched[i].LogProb));
            vsTorch = Math.Max(vsTorch, Math.Abs(expected[i].LogProb - batched[i].LogProb));
            sequentialVsTorch = Math.Max(sequentialVsTorch, Math.Abs(expected[i].LogProb - sequential[i].LogProb));
            Assert.Equal(sequential[i].IsGreedy, batched[i].IsGreedy);
            Assert.Equal(expected[i].IsGreedy, batched[i].IsGreedy);
            Assert.Equal(batched[i].LogProb, again[i].LogProb, 1e-9);
        }
        output.WriteLine($"{kind?.ToString() ?? "no adapter"}, {batchTokens} tokens: max |batched − sequential| = {vsSequential:E3}, " +
                         $"|batched − torch| = {vsTorch:E3}, |sequential − torch| = {sequentialVsTorch:E3} over {requests.Count} requests");
        Assert.True(vsSequential <= 1e-4, $"vs sequential {vsSequential:E3} > 1e-4");
        Assert.True(vsTorch <= 1e-4, $"vs torch {vsTorch:E3} > 1e-4");
        Assert.True(sequentialVsTorch <= 1e-4, $"sequential vs torch {sequentialVsTorch:E3} > 1e-4");
        Assert.True(expected.Select(e => e.LogProb).Distinct().Count() > requests.Count / 2, "the requests should score differently");
    }

    /// <summary>
    /// A session shared with a generator: tokens evaluated between two Score calls overwrite the cache, so the second
    /// call must not reuse the prefix it cached in the first (the demo scores and generates on one session).
    /// </summary>
    [Fact]
    public void Score_AfterOtherUseOfTheSession_DoesNotReuseAStaleCache()
    {
        using var dir = new TempDir();
        var config = TinyLlamaFactory.DefaultConfig() with { ContextLength = 48 };
        string path = dir.Combine("tiny.gguf");
        TinyLlamaFactory.WriteGguf(TinyLlamaFactory.Create(config, seed: 2), path);
        using var model = GgmlLlamaModel.Load(path);
        LogLikelihoodRequest[] requests = [new([1, 20, 21, 22, 23, 24], [30, 31])];

        using var fresh = new LlamaSession(model, cacheType: GgmlType.F32);
        double expected = new GgmlLogLikelihoodModel(fresh).Score(requests)[0].LogProb;

        using var shared = new LlamaSession(model, cacheType: GgmlType.F32);
        var scorer = new GgmlLogLikelihoodModel(shared);
        scorer.Score(requests);
        shared.Reset();
        shared.Evaluate([1, 20, 50, 51, 52, 53, 54, 55]);        // same first two tokens, then others: the cache now differs
        double again = scorer.Score(requests)[0].LogProb;
        Assert.Equal(expected, again, 1e-6);
    }
}
