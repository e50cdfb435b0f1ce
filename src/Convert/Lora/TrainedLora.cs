using System.Globalization;
using System.Runtime.InteropServices;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Training.Checkpoints;
using LlamaAdapter.Training.Model;
using LlamaAdapter.Training.Peft;

namespace LlamaAdapter.Convert.Lora;

/// <summary>
/// A LoRA trained here, read from <c>extract</c>'s safetensors or straight from a training checkpoint: the
/// <c>adapter.*</c> description (kind, rank, alpha, targets, base.* shape, base.rope_layout) and per layer and target
/// <c>layers.{i}.attention.wq.lora_a</c> [r, in] and <c>….lora_b</c> [out, r] (F32). The result is in llama.cpp's terms:
/// B's rows of wq/wk are put into Meta/GGUF order when the LoRA was trained on HF-layout weights (rotate_half rows).
/// </summary>
public static class TrainedLora
{
    /// <summary>The safetensors metadata's adapter.kind ("lora", "bitfit", "linear", …) of a file or of a run folder's
    /// newest checkpoint, or null when there is none (a PEFT directory, a GGUF, something else: the prompt-adapter
    /// converter reports those).</summary>
    public static string? KindOf(string path)
    {
        if (CheckpointDirectory.List(path) is { Count: > 0 } checkpoints) path = checkpoints[^1].Path;
        if (!File.Exists(path)) return null;
        try
        {
            using var r = SafetensorsReader.Open(path);
            return r.Metadata.TryGetValue("adapter.kind", out var k) ? k : null;
        }
        catch (BadInputException) { return null; }
    }

    /// <param name="path">extract output, training checkpoint (.safetensors) or a run folder (its newest checkpoint)</param>
    /// <param name="baseConfig">the base model it is converted or merged against: its shape must be the one trained on</param>
    /// <param name="baseLayout">the rotary layout of the base's own format (HF: half_split), used only when the file
    /// does not record the layout the LoRA was trained with</param>
    public static LoraWeights Load(string path, LlamaConfig baseConfig, RopeLayout baseLayout)
    {
        if (Directory.Exists(path)) path = CheckpointDirectory.Resolve(path);
        var (tensors, meta) = TensorFile.Read(path);
        bool checkpoint = meta.TryGetValue("format", out var format) && format == TrainingCheckpoint.FormatName;
        const string param = "param/";
        var weights = checkpoint
            ? tensors.Values.Where(t => t.Name.StartsWith(param, StringComparison.Ordinal)).ToDictionary(t => t.Name[param.Length..], t => t)
            : tensors;
        var d = meta.Where(kv => kv.Key.StartsWith("adapter.", StringComparison.Ordinal))
                    .ToDictionary(kv => kv.Key["adapter.".Length..], kv => kv.Value, StringComparer.Ordinal);

        string kind = d.TryGetValue("kind", out var k) ? k
            : throw new BadInputException($"{path}: __metadata__ field 'adapter.kind' is missing; expected a LoRA written by extract or a training checkpoint");
        if (kind == PeftDescription.BitFitKind)
            throw new BadInputException($"{path}: adapter.kind is 'bitfit': BitFit trains bias vectors, and llama.cpp's LoRA GGUF has no bias " +
                                        "adapters (its loader takes only .lora_a/.lora_b matrix pairs), so a BitFit run cannot be exported as a llama.cpp adapter " +
                                        "(nor merged by --merge-lora, which adds low-rank products to weight matrices)");
        if (kind != PeftDescription.LoraKind)
            throw new BadInputException($"{path}: adapter.kind is '{kind}'; expected 'lora'");
        var lora = PeftDescription.ParseLora(d, path);
        var layout = PeftDescription.ParseLayout(d, path) ?? baseLayout;

        void Same(string key, int actual)
        {
            if (!d.TryGetValue(key, out var v))
                throw new BadInputException($"{path}: __metadata__ field 'adapter.{key}' is missing; without it the base model's shape cannot be checked");
            if (v != actual.ToString(CultureInfo.InvariantCulture))
                throw new BadInputException($"{path}: __metadata__ 'adapter.{key}' is {v}, but the base model has {actual}: the LoRA was trained on another model shape");
        }
        var c = baseConfig;
        Same("base.embedding_length", c.Dim);
        Same("base.block_count", c.NLayers);
        Same("base.head_count", c.NHeads);
        Same("base.head_count_kv", c.NKvHeads);
        Same("base.feed_forward_length", c.FfnDim);
        Same("base.vocab_size", c.VocabSize);

        var expected = new HashSet<string>(StringComparer.Ordinal);
        var pairs = new List<LoraPair>();
        for (int layer = 0; layer < c.NLayers; layer++)
            foreach (var t in lora.TargetList.Distinct().Order())
            {
                var (o, i) = t.Shape(c);
                string prefix = $"layers.{layer}.{t.Path()}";
                float[] a = Take(prefix + ".lora_a", lora.Rank, i), b = Take(prefix + ".lora_b", o, lora.Rank);
                // Rotary rows: HF's wq/wk rows (and so lora_b's) are per-head half-split; llama.cpp's are interleaved.
                // A multiplies the input (the hidden state), whose order no layout changes.
                if (layout == RopeLayout.HalfSplit && t is Projection.Wq or Projection.Wk)
                {
                    var meta32 = RotaryPermutation.HfToMeta(MemoryMarshal.AsBytes(b.AsSpan()), checked((int)o), t == Projection.Wq ? c.NHeads : c.NKvHeads);
                    b = MemoryMarshal.Cast<byte, float>(meta32).ToArray();
                }
                pairs.Add(new LoraPair(new LlamaTensorId(TargetTensor(t), layer), lora.Rank, i, o, a, b));
            }
        foreach (var name in weights.Keys.Order(StringComparer.Ordinal))
            if (!expected.Contains(name))
                throw new BadInputException($"{path}: tensor '{name}' is not one of the LoRA's (targets {Projections.Format(lora.TargetList)} in layers 0…{c.NLayers - 1}, named layers.N.attention.wq.lora_a / .lora_b)");
        return new LoraWeights((float)lora.Alpha, pairs);

        float[] Take(string name, long rows, long cols)
        {
            expected.Add(name);
            if (!weights.TryGetValue(name, out var t))
                throw new BadInputException($"{path}: tensor '{name}' is missing (expected F32 [{rows}, {cols}])");
            if (t.DType != "F32" || t.Shape.Length != 2 || t.Shape[0] != rows || t.Shape[1] != cols)
                throw new BadInputException($"{path}: tensor '{name}' is {t.DType} [{string.Join(", ", t.Shape)}]; expected F32 [{rows}, {cols}]");
            var f = t.AsFloats();
            int bad = Array.FindIndex(f, x => !float.IsFinite(x));
            if (bad >= 0) throw new BadInputException($"{path}: tensor '{name}' element {bad} (row {bad / cols}, column {bad % cols}) is {f[bad]}; expected finite values");
            return f;
        }
    }

    /// <summary>Our projection names → llama.cpp's tensors (wq → attn_q, w1 → ffn_gate, w2 → ffn_down, w3 → ffn_up).</summary>
    public static LlamaTensor TargetTensor(Projection p) => p switch
    {
        Projection.Wq => LlamaTensor.AttnQ,
        Projection.Wk => LlamaTensor.AttnK,
        Projection.Wv => LlamaTensor.AttnV,
        Projection.Wo => LlamaTensor.AttnOut,
        Projection.W1 => LlamaTensor.FfnGate,
        Projection.W2 => LlamaTensor.FfnDown,
        Projection.W3 => LlamaTensor.FfnUp,
        _ => throw new ArgumentOutOfRangeException(nameof(p)),
    };

    /// <summary>The projection a llama.cpp tensor kind is (the inverse of <see cref="TargetTensor"/>), or null for a non-projection.</summary>
    public static Projection? ProjectionOf(LlamaTensor t) =>
        Enum.GetValues<Projection>().Where(p => TargetTensor(p) == t).Select(p => (Projection?)p).FirstOrDefault();
}
