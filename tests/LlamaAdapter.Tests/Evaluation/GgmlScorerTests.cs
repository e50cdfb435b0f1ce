using LlamaAdapter.Core.Native;
using LlamaAdapter.Evaluation.Scoring;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Training.Loading;
using Xunit.Abstractions;

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
}
