using System.Runtime.InteropServices;
using System.Text.Json;
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
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var logits = Forward(model, ids);                                            // [1, T, vocab]
        return logits[0, -1].to(ScalarType.Float32).cpu().data<float>().ToArray();
    }

    /// <summary>ids → float32 logits of every position, row-major [T, vocab] (row t: the prediction after ids[0..t]).</summary>
    public static float[] ComputeAll(LlamaModel model, IReadOnlyList<long> ids)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var logits = Forward(model, ids);                                            // [1, T, vocab]
        return logits[0].to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
    }

    private static Tensor Forward(LlamaModel model, IReadOnlyList<long> ids)
    {
        if (ids.Count == 0) throw new BadInputException("prompt ids: expected at least one token id, got none");
        for (int i = 0; i < ids.Count; i++)
            if (ids[i] < 0 || ids[i] >= model.Config.VocabSize)
                throw new BadInputException($"prompt ids: id {ids[i]} at position {i} is outside the vocabulary [0, {model.Config.VocabSize})");
        return model.forward(tensor(ids.ToArray(), [1, ids.Count], ScalarType.Int64));
    }

    /// <summary>
    /// The ids of <c>--tokens</c> or its older name <c>--prompt-ids</c> (exactly one given): "1,450,4996" → [1, 450, 4996].
    /// Whether each id is in the vocabulary is checked once the model is known.
    /// </summary>
    public static long[] ParseTokens(string? tokens, string? promptIds)
    {
        if (tokens is not null && promptIds is not null)
            throw new BadInputException("--tokens and --prompt-ids: give one of them (--prompt-ids is the older name of --tokens)");
        string option = tokens is not null ? "--tokens" : "--prompt-ids";
        string text = tokens ?? promptIds ?? throw new BadInputException("--tokens: required (comma-separated token ids, e.g. --tokens 1,450,4996)");
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var ids = new long[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!long.TryParse(parts[i], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out ids[i]))
                throw new BadInputException($"{option}: item {i + 1} '{parts[i]}' is not a non-negative integer (expected e.g. 1,450,4996)");
        return ids;
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

    /// <summary>
    /// Writes <paramref name="logits"/> [tokens × vocab] as float32 little-endian row-major to <paramref name="path"/>
    /// and its description to <c>path + ".json"</c> (shape, dtype, byte_order, layout, then <paramref name="info"/>),
    /// each atomically. The JSON goes last, so a reader that finds it finds a complete data file beside it.
    /// </summary>
    public static void WriteMatrix(string path, float[] logits, int tokens, int vocab, IReadOnlyDictionary<string, object?> info)
    {
        if ((long)tokens * vocab != logits.Length)
            throw new ArgumentException($"logits hold {logits.Length} floats, expected {tokens} × {vocab}", nameof(logits));
        var doc = new Dictionary<string, object?>
        {
            ["shape"] = new[] { tokens, vocab },
            ["dtype"] = "float32",
            ["byte_order"] = "little",
            ["layout"] = "row-major",
        };
        foreach (var (k, v) in info) doc[k] = v;
        // A stale description from an earlier run must not sit beside the new data, even if this write is cut short.
        File.Delete(path + ".json");
        WriteRaw(path, logits);
        AtomicFile.WriteAllText(path + ".json", JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }
}
