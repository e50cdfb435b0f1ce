using LlamaAdapter.Core;
using LlamaAdapter.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Evaluation.Scoring;

/// <summary>
/// Log-likelihoods from the TorchSharp <see cref="LlamaModel"/> as the harness's HF model computes them: input =
/// (context + continuation)[-(max_length+1):][:-1], right-padded with id 0 into a batch (padding sits after every
/// real token, so causal attention never sees it), float32 log-softmax at the continuation's positions only.
/// Requests are sorted longest first and batched <see cref="BatchSize"/> rows at a time; the evaluator sends several
/// questions' choices together, so a context is run in one batch with its choices.
/// </summary>
public sealed class TorchLogLikelihoodModel(LlamaModel model, int batchSize = 16) : ILogLikelihoodModel
{
    public int BatchSize { get; } = batchSize > 0 ? batchSize : throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "expected a positive batch size");
    public int MaxLength => model.Config.ContextLength;

    public IReadOnlyList<LogLikelihood> Score(IReadOnlyList<LogLikelihoodRequest> requests, CancellationToken ct = default)
    {
        // Longest first, as the harness orders its requests, so a batch's rows have similar lengths and little padding;
        // results go back to request order.
        var order = Enumerable.Range(0, requests.Count).OrderByDescending(i => requests[i].Context.Length + requests[i].Continuation.Length).ToArray();
        var sorted = order.Select(i => requests[i]).ToArray();
        var scored = new LogLikelihood[requests.Count];
        for (int start = 0; start < sorted.Length; start += BatchSize)
        {
            ct.ThrowIfCancellationRequested();
            int n = Math.Min(BatchSize, sorted.Length - start);
            ScoreBatch(sorted, start, n, scored);
        }
        var results = new LogLikelihood[requests.Count];
        for (int k = 0; k < order.Length; k++) results[order[k]] = scored[k];
        return results;
    }

    private void ScoreBatch(IReadOnlyList<LogLikelihoodRequest> requests, int start, int n, LogLikelihood[] results)
    {
        var inputs = new long[n][];
        var targets = new List<long>();
        var positions = new List<long>();   // flat index b * T + t of the hidden state predicting each target
        var counts = new int[n];
        for (int b = 0; b < n; b++)
        {
            var r = requests[start + b];
            if (r.Context.Length == 0) throw new BadInputException($"request {start + b}: empty context, expected at least the BOS token");
            if (r.Continuation.Length == 0) throw new BadInputException($"request {start + b}: empty continuation, expected at least one token");
            if (r.Continuation.Length > MaxLength)
                throw new BadInputException($"request {start + b}: continuation of {r.Continuation.Length} tokens is longer than the model's context {MaxLength}");
            var whole = r.Context.Concat(r.Continuation).ToArray();
            var window = whole[Math.Max(0, whole.Length - (MaxLength + 1))..];
            inputs[b] = window[..^1].Select(x => (long)x).ToArray();
            counts[b] = r.Continuation.Length;
        }
        int T = inputs.Max(x => x.Length);
        var ids = new long[n * T]; // right padding with 0, as the harness's pad_and_concat
        for (int b = 0; b < n; b++)
        {
            Array.Copy(inputs[b], 0, ids, b * T, inputs[b].Length);
            var cont = requests[start + b].Continuation;
            int len = inputs[b].Length;
            for (int k = 0; k < cont.Length; k++)
            {
                positions.Add((long)b * T + len - cont.Length + k);
                targets.Add(cont[k]);
            }
        }
        foreach (var t in targets)
            if (t < 0 || t >= model.Config.VocabSize) throw new BadInputException($"continuation id {t}: outside the vocabulary [0, {model.Config.VocabSize})");

        float[] logp;
        bool[] greedy;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var device = model.Options.TargetDevice;
            var hidden = model.ForwardHidden(tensor(ids, [n, T], ScalarType.Int64));          // [n, T, dim]
            var picked = hidden.reshape(n * T, -1).index_select(0, tensor(positions.ToArray(), ScalarType.Int64).to(device)); // [S, dim]
            var logits = model.Logits(picked).to(ScalarType.Float32);                         // [S, vocab]
            var tgt = tensor(targets.ToArray(), ScalarType.Int64).to(device);                 // [S]
            var lp = nn.functional.log_softmax(logits, -1).gather(1, tgt.unsqueeze(1)).squeeze(1);
            var eq = logits.argmax(-1).eq(tgt);
            logp = lp.cpu().data<float>().ToArray();
            greedy = eq.cpu().data<bool>().ToArray();
        }
        int at = 0;
        for (int b = 0; b < n; b++)
        {
            double sum = 0;
            bool all = true;
            for (int k = 0; k < counts[b]; k++, at++) { sum += logp[at]; all &= greedy[at]; }
            results[start + b] = new LogLikelihood(sum, all);
        }
    }
}
