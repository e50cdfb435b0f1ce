using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Evaluation.Scoring;
using LlamaAdapter.Tests.Model;
using LlamaAdapter.Tests.Support;
using LlamaAdapter.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Evaluation;

/// <summary>
/// The TorchSharp scorer on a tiny random model: batched with right padding == one request at a time == a direct
/// forward of each sequence with a float64 log-softmax over all positions (|Δ| ≤ 1e-5 per request sum).
/// </summary>
public class LogLikelihoodScorerTests
{
    private const double Tol = 1e-5;

    internal static LlamaModel TinyModel(int context = 64) =>
        new TinyLlama(TinyLlama.DefaultConfig() with { VocabSize = 259, ContextLength = context }, seed: 5).Build();

    private static LogLikelihood Direct(LlamaModel model, LogLikelihoodRequest r)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var whole = r.Context.Concat(r.Continuation).ToArray();
        var window = whole[Math.Max(0, whole.Length - (model.Config.ContextLength + 1))..];
        var inp = window[..^1].Select(x => (long)x).ToArray();
        var logits = model.forward(tensor(inp, [1, inp.Length], ScalarType.Int64))[0].to(ScalarType.Float64); // [T, V]
        var logp = nn.functional.log_softmax(logits, -1);
        double sum = 0;
        bool greedy = true;
        int n = r.Continuation.Length;
        for (int k = 0; k < n; k++)
        {
            long pos = inp.Length - n + k;
            sum += logp[pos, r.Continuation[k]].item<double>();
            greedy &= logits[pos].argmax().item<long>() == r.Continuation[k];
        }
        return new LogLikelihood(sum, greedy);
    }

    private static List<LogLikelihoodRequest> Requests(ITokenizer tok)
    {
        string ctx = "Question: Which gas do plants absorb?\nAnswer:";
        var list = new[] { " oxygen", " carbon dioxide", " He", " a much longer answer that pads the others out" }
            .Select(c => HarnessEncoding.EncodePair(tok, ctx, c)).ToList();
        list.Add(HarnessEncoding.EncodePair(tok, "Short", " x"));
        return list;
    }

    [Fact]
    public void Batched_EqualsOneByOne_EqualsDirectForward()
    {
        using var model = TinyModel();
        var tok = new ByteTokenizer();
        var reqs = Requests(tok);
        var batched = new TorchLogLikelihoodModel(model, batchSize: 16).Score(reqs);
        var single = new TorchLogLikelihoodModel(model, batchSize: 1).Score(reqs);
        var pairs = new TorchLogLikelihoodModel(model, batchSize: 2).Score(reqs);
        for (int i = 0; i < reqs.Count; i++)
        {
            var d = Direct(model, reqs[i]);
            Assert.InRange(Math.Abs(batched[i].LogProb - d.LogProb), 0, Tol);
            Assert.InRange(Math.Abs(single[i].LogProb - d.LogProb), 0, Tol);
            Assert.InRange(Math.Abs(pairs[i].LogProb - d.LogProb), 0, Tol);
            Assert.Equal(d.IsGreedy, batched[i].IsGreedy);
            Assert.Equal(d.IsGreedy, single[i].IsGreedy);
            Assert.True(d.LogProb < 0);
        }
    }

    [Fact]
    public void LongRequest_KeepsLastMaxLengthPlusOneTokens()
    {
        using var model = TinyModel(context: 16);
        var tok = new ByteTokenizer();
        var r = HarnessEncoding.EncodePair(tok, "A context that is much longer than sixteen tokens", " ok");
        Assert.True(r.Context.Length + r.Continuation.Length > 17);
        var got = new TorchLogLikelihoodModel(model).Score([r, HarnessEncoding.EncodePair(tok, "tiny", " ok")]);
        Assert.InRange(Math.Abs(got[0].LogProb - Direct(model, r).LogProb), 0, Tol);
    }

    [Fact]
    public void GreedyFlag_TrueWhenContinuationIsTheArgmax()
    {
        using var model = TinyModel();
        var ctx = new ByteTokenizer().Encode("Hello", addBos: true, addEos: false);
        // The model's own argmax next token is greedy by construction; a different one is not.
        var logits = LlamaAdapter.Training.Loading.NextTokenLogits.Compute(model, ctx.Select(x => (long)x).ToArray());
        int best = Array.IndexOf(logits, logits.Max());
        int other = (best + 1) % logits.Length;
        var got = new TorchLogLikelihoodModel(model).Score([new(ctx, [best]), new(ctx, [other])]);
        Assert.True(got[0].IsGreedy);
        Assert.False(got[1].IsGreedy);
        Assert.True(got[0].LogProb > got[1].LogProb);
    }

    [Fact]
    public void EncodePair_MovesTrailingSpaceToContinuation_SplitsWholeEncoding()
    {
        var tok = new ByteTokenizer();
        var r = HarnessEncoding.EncodePair(tok, "Answer: ", "Paris");
        Assert.Equal(tok.Encode("Answer:", true, false), r.Context);
        Assert.Equal(tok.Encode(" Paris", false, false), r.Continuation);
    }

    [SharedDataFact("tokenizer.model")]
    public void EncodePair_WithLlamaSpm_ContextPlusContinuationIsWholeEncoding()
    {
        var tok = SpmTokenizer.Load(RepoPaths.SharedFile("tokenizer.model"));
        string ctx = "Question: What is the capital of France?\nAnswer:";
        var r = HarnessEncoding.EncodePair(tok, ctx, " Paris");
        Assert.Equal(tok.Encode(ctx + " Paris", true, false), r.Context.Concat(r.Continuation).ToArray());
        Assert.Equal(tok.BosId, r.Context[0]);
        Assert.Equal("▁Paris", tok.Model.Pieces[r.Continuation[0]].Piece);
    }
}
