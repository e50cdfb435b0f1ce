using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Ggml;
using LlamaAdapter.Inference.Model;

namespace LlamaAdapter.Inference.Adapters;

/// <summary>The base weights a LoRA pair can sit on in our graph.</summary>
public enum LoraTarget { AttnQ, AttnK, AttnV, AttnOut, FfnGate, FfnUp, FfnDown, Output }

/// <summary>
/// A llama.cpp LoRA GGUF (general.type = adapter, adapter.type = lora; lora_a ne [in, r], lora_b ne [r, out]) loaded
/// for a base model and applied at run time as llama.cpp's build_lora_mm does: W·x + scale·B·(A·x), scale =
/// adapter scale · alpha / r (r = lora_b's ne[0]), or the adapter scale alone when alpha is 0. Every tensor is
/// checked against the base model before ggml sees it. Norm vectors (<c>*_norm.weight</c>), which llama.cpp skips
/// too, are skipped; a LoRA on token_embd is refused (llama.cpp stores that one transposed and gathers rows of it).
/// </summary>
public sealed class GgmlLoraAdapter : IDisposable
{
    private static readonly (string Suffix, LoraTarget Target)[] BlockTensors =
    [
        ("attn_q.weight", LoraTarget.AttnQ), ("attn_k.weight", LoraTarget.AttnK), ("attn_v.weight", LoraTarget.AttnV),
        ("attn_output.weight", LoraTarget.AttnOut), ("ffn_gate.weight", LoraTarget.FfnGate), ("ffn_up.weight", LoraTarget.FfnUp),
        ("ffn_down.weight", LoraTarget.FfnDown),
    ];

    private readonly PlacedContexts _tensors;
    private readonly Dictionary<(int Layer, LoraTarget Target), (IntPtr A, IntPtr B, float Scale)> _pairs;

    public float Alpha { get; }
    /// <summary>Adapted weights (lora_a/lora_b pairs).</summary>
    public int Count => _pairs.Count;
    /// <summary>The model it was loaded for: each pair lives on the backend of the layer it adapts.</summary>
    public GgmlLlamaModel Model { get; }

    private GgmlLoraAdapter(GgmlLlamaModel model, PlacedContexts tensors, Dictionary<(int, LoraTarget), (IntPtr, IntPtr, float)> pairs, float alpha)
        => (Model, _tensors, _pairs, Alpha) = (model, tensors, pairs, alpha);

    /// <summary>The pair on <paramref name="target"/> of <paramref name="layer"/> (-1 for output.weight), if any.</summary>
    internal bool TryGet(int layer, LoraTarget target, out (IntPtr A, IntPtr B, float Scale) pair) => _pairs.TryGetValue((layer, target), out pair);

    /// <param name="scale">llama.cpp's adapter scale (llama_set_adapters_lora's scales[i], --lora-scaled): 1 applies the LoRA as trained.</param>
    public static GgmlLoraAdapter Load(string path, GgmlLlamaModel model, float scale = 1f)
    {
        if (!float.IsFinite(scale)) throw new ArgumentOutOfRangeException(nameof(scale), scale, "expected a finite number");
        if (!File.Exists(path)) throw new BadInputException($"{path}: no such file; expected a LoRA GGUF (general.type = adapter, adapter.type = lora)");
        using var reader = GgufReader.Open(path);
        var md = reader.Metadata;
        foreach (var (key, want) in new[] { ("general.type", "adapter"), ("adapter.type", "lora"), ("general.architecture", "llama") })
        {
            string? got = md.TryGetValue(key, out var v) ? (v.Type == GgufValueType.String ? v.AsString() : v.Type.ToString()) : null;
            if (got != want) throw new BadInputException($"{path}: metadata '{key}': expected \"{want}\", found {(got is null ? "nothing (missing)" : $"\"{got}\"")}");
        }
        float alpha = 0;
        if (md.TryGetValue("adapter.lora.alpha", out var a))
        {
            if (a.Type != GgufValueType.Float32) throw new BadInputException($"{path}: metadata 'adapter.lora.alpha': expected Float32 (llama.cpp reads it as F32), found {a.Type}");
            alpha = (float)a.AsDouble();
            if (!float.IsFinite(alpha)) throw new BadInputException($"{path}: metadata 'adapter.lora.alpha': expected a finite number, found {alpha}");
        }

        var c = model.Config;
        var found = new Dictionary<string, (int Layer, LoraTarget Target, long In, long Out)>(StringComparer.Ordinal);
        foreach (var t in reader.Tensors)
        {
            string name = t.Name;
            if (name.EndsWith("_norm.weight", StringComparison.Ordinal)) continue;
            string stem = name.EndsWith(".lora_a", StringComparison.Ordinal) || name.EndsWith(".lora_b", StringComparison.Ordinal) ? name[..^7]
                : throw new BadInputException($"{path}: tensor '{name}' is not a LoRA tensor; expected names ending in .lora_a or .lora_b");
            found[stem] = Identify(stem) ?? throw new BadInputException(
                $"{path}: tensor '{name}' targets '{stem}', which this engine cannot adapt; expected blk.N.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down).weight or output.weight");
        }
        if (found.Count == 0) throw new BadInputException($"{path}: holds no LoRA tensors (expected pairs such as blk.0.attn_q.weight.lora_a / .lora_b)");

        var ctx = new PlacedContexts(model.Placement, tensors: 2 * found.Count);
        try
        {
            var load = new GgufTensorLoader(reader, ctx);
            var pairs = new Dictionary<(int, LoraTarget), (IntPtr, IntPtr, float)>();
            foreach (var (stem, (layer, target, @in, @out)) in found)
            {
                string an = stem + ".lora_a", bn = stem + ".lora_b";
                if (!reader.TryGetTensor(an, out var ta) || !reader.TryGetTensor(bn, out var tb))
                    throw new BadInputException($"{path}: LoRA tensor pair for '{stem}' is missing its {(reader.TryGetTensor(an, out _) ? ".lora_b" : ".lora_a")} half");
                if (layer >= c.NLayers)
                    throw new BadInputException($"{path}: LoRA tensor '{an}' is for layer {layer}, but the base model {model.Path} has {c.NLayers} layers: the LoRA was made for another model");
                long rank = ta.Shape.Count == 2 ? ta.Shape[1] : 0;
                if (rank < 1 || rank > int.MaxValue)
                    throw new BadInputException($"{path}: tensor '{an}' has ne [{string.Join(", ", ta.Shape)}]; expected [{@in}, r] (in = the base tensor's row length)");
                if (target == LoraTarget.Output && c.TiedEmbeddings)
                    throw new BadInputException($"{path}: LoRA tensor '{an}' adapts output.weight, but the base model {model.Path} ties it to token_embd");
                IntPtr A = load.Matrix(an, @in, rank, layer);     // the loader names file, tensor and expected ne on a mismatch
                IntPtr B = load.Matrix(bn, rank, @out, layer);
                pairs[(layer, target)] = (A, B, alpha != 0 ? scale * alpha / rank : scale);
            }
            load.Upload($"the LoRA {path} for the offloaded layers");
            return new GgmlLoraAdapter(model, ctx, pairs, alpha);
        }
        catch { ctx.Dispose(); throw; }

        (int, LoraTarget, long, long)? Identify(string stem)
        {
            long dim = c.Dim, kv = c.KvDim, ffn = c.FfnDim;
            if (stem == "output.weight") return (-1, LoraTarget.Output, dim, c.VocabSize);
            if (!stem.StartsWith("blk.", StringComparison.Ordinal)) return null;
            int dot = stem.IndexOf('.', 4);
            if (dot < 0 || !int.TryParse(stem.AsSpan(4, dot - 4), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int layer)) return null;
            string suffix = stem[(dot + 1)..];
            foreach (var (s, t) in BlockTensors)
                if (s == suffix)
                    return t switch
                    {
                        LoraTarget.AttnQ or LoraTarget.AttnOut => (layer, t, dim, dim),
                        LoraTarget.AttnK or LoraTarget.AttnV => (layer, t, dim, kv),
                        LoraTarget.FfnGate or LoraTarget.FfnUp => (layer, t, dim, ffn),
                        _ => (layer, t, ffn, dim),
                    };
            return null;
        }
    }

    public void Dispose()
    {
        _tensors.Dispose();
    }
}
