using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Convert;

/// <summary>Checks a checkpoint's tensor list against its config and puts it in GGUF order.</summary>
internal static class CheckpointTensors
{
    /// <summary>Row-major shape each tensor must have.</summary>
    public static long[] ExpectedShape(LlamaTensorId id, LlamaConfig c) => id.Kind switch
    {
        LlamaTensor.TokenEmbedding or LlamaTensor.Output => [c.VocabSize, c.Dim],
        LlamaTensor.OutputNorm or LlamaTensor.AttnNorm or LlamaTensor.FfnNorm => [c.Dim],
        LlamaTensor.AttnQ or LlamaTensor.AttnOut => [c.Dim, c.Dim],
        LlamaTensor.AttnK or LlamaTensor.AttnV => [c.KvDim, c.Dim],
        LlamaTensor.FfnGate or LlamaTensor.FfnUp => [c.FfnDim, c.Dim],
        LlamaTensor.FfnDown => [c.Dim, c.FfnDim],
        LlamaTensor.RopeFactors => [c.HeadDim / 2],
        _ => throw new ArgumentOutOfRangeException(nameof(id), id, "no fixed shape"),
    };

    public static GgmlType FromSafetensors(SafetensorsDType d, string file, string name) => d switch
    {
        SafetensorsDType.F32 => GgmlType.F32,
        SafetensorsDType.F16 => GgmlType.F16,
        SafetensorsDType.BF16 => GgmlType.BF16,
        _ => throw new BadInputException($"{file}: tensor '{name}' has dtype {d}; expected F32, F16 or BF16"),
    };

    /// <summary>
    /// Validates the set (every expected tensor once, right shape, no strangers; derived rotary caches dropped)
    /// and returns it in GGUF order. Output may be absent only with tied embeddings.
    /// </summary>
    public static List<SourceTensor> Check(IEnumerable<SourceTensor> found, LlamaConfig c, string origin, TensorNaming naming)
    {
        var byId = new Dictionary<LlamaTensorId, SourceTensor>();
        foreach (var t in found)
        {
            if (t.Id.Kind == LlamaTensor.RopeInverseFrequencies) continue;
            if (t.Id.IsPerLayer && t.Id.Layer >= c.NLayers)
                throw new BadInputException($"{origin}: tensor '{t.SourceName}' is for layer {t.Id.Layer}, but the config has {c.NLayers} layers (0 … {c.NLayers - 1})");
            if (!byId.TryAdd(t.Id, t))
                throw new BadInputException($"{origin}: tensor '{t.SourceName}' appears twice (also as '{byId[t.Id].SourceName}')");
            var expected = ExpectedShape(t.Id, c);
            if (!t.Shape.SequenceEqual(expected))
                throw new BadInputException($"{origin}: tensor '{t.SourceName}' has shape [{string.Join(", ", t.Shape)}]; the config implies [{string.Join(", ", expected)}]");
        }
        var ordered = new List<SourceTensor>();
        void Need(LlamaTensorId id, bool optional = false)
        {
            if (byId.Remove(id, out var t)) ordered.Add(t);
            else if (!optional)
                throw new BadInputException($"{origin}: tensor '{TensorNames.Format(id, naming)}' is missing (expected shape [{string.Join(", ", ExpectedShape(id, c))}])");
        }
        Need(new(LlamaTensor.TokenEmbedding));
        Need(new(LlamaTensor.RopeFactors), optional: true);
        for (int i = 0; i < c.NLayers; i++)
            foreach (var k in new[] { LlamaTensor.AttnNorm, LlamaTensor.AttnQ, LlamaTensor.AttnK, LlamaTensor.AttnV, LlamaTensor.AttnOut,
                                      LlamaTensor.FfnNorm, LlamaTensor.FfnGate, LlamaTensor.FfnUp, LlamaTensor.FfnDown })
                Need(new(k, i));
        Need(new(LlamaTensor.OutputNorm));
        Need(new(LlamaTensor.Output), optional: c.TiedEmbeddings);
        if (byId.Count > 0)
            throw new BadInputException($"{origin}: tensor '{byId.Values.First().SourceName}' is not used by a LLaMA model of this config");
        return ordered;
    }
}
