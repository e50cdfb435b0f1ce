using System.Runtime.InteropServices;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Loading;

/// <summary>One candidate next token: its id, raw logit and softmax probability over the whole vocabulary.</summary>
public readonly record struct TokenScore(int Id, float Logit, double Probability);

/// <summary>The logits a model gives for the token after a prompt (the last position), for inspection and comparison with other runtimes.</summary>
public static class NextTokenLogits
{
    /// <summary>ids → float32 logits [vocab] of the last position. Ids outside the vocabulary are bad input.</summary>
    public static float[] Compute(LlamaModel model, IReadOnlyList<long> ids)
    {
        if (ids.Count == 0) throw new BadInputException("prompt ids: expected at least one token id, got none");
        for (int i = 0; i < ids.Count; i++)
            if (ids[i] < 0 || ids[i] >= model.Config.VocabSize)
                throw new BadInputException($"prompt ids: id {ids[i]} at position {i} is outside the vocabulary [0, {model.Config.VocabSize})");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var logits = model.forward(tensor(ids.ToArray(), [1, ids.Count], ScalarType.Int64)); // [1, T, vocab]
        return logits[0, -1].to(ScalarType.Float32).cpu().data<float>().ToArray();
    }

    /// <summary>The <paramref name="k"/> highest logits, best first (ties by lower id), with probabilities from a float64 softmax.</summary>
    public static IReadOnlyList<TokenScore> Top(float[] logits, int k)
    {
        if (k <= 0) throw new BadInputException($"top: expected a positive count, got {k}");
        double max = logits.Max();
        double z = logits.Sum(l => Math.Exp(l - max));
        return Enumerable.Range(0, logits.Length)
            .OrderByDescending(i => logits[i]).ThenBy(i => i)
            .Take(k)
            .Select(i => new TokenScore(i, logits[i], Math.Exp(logits[i] - max) / z))
            .ToList();
    }

    /// <summary>Writes the logits as vocab × float32 little-endian, atomically (temp file beside it, then renamed over).</summary>
    public static void WriteRaw(string path, float[] logits)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("raw logits are written little-endian");
        AtomicFile.Write(path, f => f.Write(MemoryMarshal.AsBytes(logits.AsSpan())));
    }
}
