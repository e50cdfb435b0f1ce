using LlamaAdapter.Core;
using LlamaAdapter.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Evaluation.Generative;

/// <summary>
/// Generation with the TorchSharp model, one prompt at a time and without a KV cache: every step re-runs the whole
/// sequence (quadratic, fine for tests and short answers; the ggml engine is the fast path). The sequence is cut to
/// the model's context, as the reference's total_len = min(max_seq_len, max_gen_len + prompt_len) does.
/// </summary>
public sealed class TorchTextGenerator(LlamaModel model, int eosId) : ITextGenerator
{
    public IReadOnlyList<int> Generate(IReadOnlyList<int> promptIds, GenerationSettings settings, CancellationToken ct = default)
    {
        if (promptIds.Count == 0) throw new BadInputException("prompt ids: expected at least the BOS token");
        int budget = Math.Min(settings.MaxNewTokens, model.Config.ContextLength - promptIds.Count);
        if (budget <= 0) throw new BadInputException($"prompt of {promptIds.Count} tokens leaves no room in the model's context {model.Config.ContextLength}");
        var rng = new Random(settings.Seed);
        var seq = promptIds.Select(x => (long)x).ToList();
        var output = new List<int>();
        for (int step = 0; step < budget; step++)
        {
            ct.ThrowIfCancellationRequested();
            float[] logits;
            using (var scope = NewDisposeScope())
            using (no_grad())
            {
                var hidden = model.ForwardHidden(tensor(seq.ToArray(), [1, seq.Count], ScalarType.Int64)); // [1, T, dim]
                logits = model.Logits(hidden[0, -1]).to(ScalarType.Float32).cpu().data<float>().ToArray();
            }
            int next = TopPSampler.Sample(logits, settings.Temperature, settings.TopP, rng);
            if (next == eosId) break;
            output.Add(next);
            seq.Add(next);
        }
        return output;
    }
}
