using System.Runtime.InteropServices;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tensors;

namespace LlamaAdapter.Convert.Lora;

/// <summary>
/// llama.cpp's LoRA GGUF (convert_lora_to_gguf.py, read by llama_adapter_lora_init in src/llama-adapter.cpp):
/// general.architecture = llama, general.type = adapter, adapter.type = lora, adapter.lora.alpha (F32; llama.cpp
/// scales each pair by alpha / rank, rank = lora_b's ne[0]), and per adapted base tensor
/// <c>blk.N.attn_q.weight.lora_a</c> with ggml ne [in, r] and <c>….lora_b</c> ne [r, out] — PEFT's row-major
/// A [r, in] and B [out, r] as they are — in the base tensor's row order (Meta/GGUF for wq/wk).
/// </summary>
public static class LoraGguf
{
    public const string SuffixA = ".lora_a", SuffixB = ".lora_b";

    /// <summary>The types written: llama.cpp's converter offers these for LoRA matrices (rank-wide rows rule out block quants).</summary>
    public static readonly IReadOnlyList<GgmlType> Types = [GgmlType.F32, GgmlType.F16, GgmlType.BF16];

    public static void Write(LoraWeights lora, string output, GgmlType type, string? name = null)
    {
        if (!Types.Contains(type))
            throw new BadInputException($"LoRA output type {type} is not supported; expected one of {string.Join(", ", Types)} (convert --type)");
        var md = new GgufMetadata();
        md.Set("general.architecture", GgufValue.Of("llama"));
        md.Set("general.type", GgufValue.Of("adapter"));
        if (name is not null) md.Set("general.name", GgufValue.Of(name));
        md.Set("general.file_type", GgufValue.Of((uint)(type switch
        {
            GgmlType.F16 => LlamaFileType.MostlyF16, GgmlType.BF16 => LlamaFileType.MostlyBF16, _ => LlamaFileType.AllF32,
        })));
        md.Set("general.quantization_version", GgufValue.Of(ModelConverter.QuantizationVersion));
        md.Set("adapter.type", GgufValue.Of("lora"));
        md.Set("adapter.lora.alpha", GgufValue.Of(lora.Alpha));   // F32: llama.cpp reads it with gguf_get_val_f32

        var plan = new List<(GgufTensorSpec Spec, float[] Data, long Rows, long RowLength)>();
        foreach (var p in lora.Pairs)
        {
            string baseName = TensorNames.Format(p.Target, TensorNaming.Gguf);
            plan.Add((new(baseName + SuffixA, type, [p.In, p.Rank]), p.A, p.Rank, p.In));   // A [r, in]
            plan.Add((new(baseName + SuffixB, type, [p.Rank, p.Out]), p.B, p.Out, p.Rank)); // B [out, r]
        }
        try
        {
            using var writer = GgufWriter.Create(output, md, plan.Select(t => t.Spec));
            foreach (var (spec, data, rows, rowLength) in plan)
            {
                if (type == GgmlType.F32) { writer.WriteTensor(spec.Name, MemoryMarshal.AsBytes(data.AsSpan())); continue; }
                var bytes = new byte[rows * GgmlTypeTraits.RowBytes(type, rowLength)!.Value];
                TensorConversion.FromFloat(type, data, bytes, rows, rowLength, -1);
                writer.WriteTensor(spec.Name, bytes);
            }
            writer.Commit();
        }
        catch (IOException e)
        {
            throw new BadInputException($"{output}: writing the LoRA GGUF failed ({e.Message}); no output was written and the temporary file was removed", e);
        }
    }

    /// <summary>
    /// Reads a LoRA GGUF (ours or llama.cpp's converter's) with the checks llama.cpp's loader makes, as errors naming
    /// the file: the three type keys, lora_a/lora_b pairs with ne [in, r] and [r, out], per-tensor rank agreement.
    /// Norm-vector tensors (<c>*_norm.weight</c>), which llama.cpp skips as well, are skipped.
    /// </summary>
    public static LoraWeights Read(string path)
    {
        if (!File.Exists(path)) throw new BadInputException($"{path}: no such file; expected a LoRA GGUF (general.type = adapter, adapter.type = lora)");
        using var r = GgufReader.Open(path);
        var md = r.Metadata;
        string Str(string key, string expected)
        {
            if (!md.TryGetValue(key, out var v)) throw new BadInputException($"{path}: metadata '{key}' is missing; expected \"{expected}\"");
            if (v.Type != GgufValueType.String) throw new BadInputException($"{path}: metadata '{key}' is {v.Type}; expected the string \"{expected}\"");
            return v.AsString();
        }
        foreach (var (key, expected) in new[] { ("general.type", "adapter"), ("adapter.type", "lora"), ("general.architecture", "llama") })
            if (Str(key, expected) is var got && got != expected)
                throw new BadInputException($"{path}: metadata '{key}' is \"{got}\"; expected \"{expected}\"");
        float alpha = 0;
        if (md.TryGetValue("adapter.lora.alpha", out var a))
        {
            if (a.Type != GgufValueType.Float32) throw new BadInputException($"{path}: metadata 'adapter.lora.alpha' is {a.Type}; expected Float32 (llama.cpp reads it as F32)");
            alpha = (float)a.AsDouble();
            if (!float.IsFinite(alpha)) throw new BadInputException($"{path}: metadata 'adapter.lora.alpha' is {alpha}; expected a finite number");
        }

        var halves = new Dictionary<string, (GgufTensorInfo? A, GgufTensorInfo? B)>(StringComparer.Ordinal);
        foreach (var t in r.Tensors)
        {
            bool isA = t.Name.EndsWith(SuffixA, StringComparison.Ordinal), isB = t.Name.EndsWith(SuffixB, StringComparison.Ordinal);
            if (!isA && !isB)
            {
                if (t.Name.EndsWith("_norm.weight", StringComparison.Ordinal)) continue;
                throw new BadInputException($"{path}: tensor '{t.Name}' is not a LoRA tensor; expected names ending in {SuffixA} or {SuffixB}");
            }
            string target = t.Name[..^SuffixA.Length];
            halves.TryGetValue(target, out var pair);
            halves[target] = isA ? pair with { A = t } : pair with { B = t };
        }

        var pairs = new List<LoraPair>();
        foreach (var (target, (ta, tb)) in halves.OrderBy(h => h.Key, StringComparer.Ordinal))
        {
            if (ta is null || tb is null)
                throw new BadInputException($"{path}: LoRA tensor pair for '{target}' is missing its {(ta is null ? SuffixA : SuffixB)} half");
            if (!TensorNames.TryParse(target, TensorNaming.Gguf, out var id))
                throw new BadInputException($"{path}: LoRA tensor '{ta.Name}' targets '{target}', which is not a LLaMA tensor name (expected e.g. blk.0.attn_q.weight)");
            if (ta.Shape.Count != 2 || tb.Shape.Count != 2)
                throw new BadInputException($"{path}: LoRA tensors '{ta.Name}' [{string.Join(", ", ta.Shape)}] and '{tb.Name}' [{string.Join(", ", tb.Shape)}] must be 2-D");
            long @in = ta.Shape[0], rank = ta.Shape[1], rankB = tb.Shape[0], @out = tb.Shape[1];
            if (rank != rankB || rank < 1 || rank > int.MaxValue)
                throw new BadInputException($"{path}: '{ta.Name}' has ne [{@in}, {rank}] and '{tb.Name}' ne [{rankB}, {@out}]; expected lora_a ne [in, r] and lora_b ne [r, out] with the same r");
            pairs.Add(new LoraPair(id, (int)rank, @in, @out, ReadF32(r, ta, path), ReadF32(r, tb, path)));
        }
        if (pairs.Count == 0) throw new BadInputException($"{path}: holds no LoRA tensors (expected pairs such as blk.0.attn_q.weight{SuffixA} / {SuffixB})");
        return new LoraWeights(alpha, pairs);
    }

    private static float[] ReadF32(GgufReader r, GgufTensorInfo t, string path)
    {
        long rowLength = t.Shape[0], rows = t.Shape[1];
        var f = new float[checked(rows * rowLength)];
        try { TensorConversion.ToFloat(t.Type, r.Span(t), f, rows, rowLength, -1); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or InvalidOperationException)
        {
            throw new BadInputException($"{path}: tensor '{t.Name}' of type {t.Type} cannot be read as numbers ({e.Message})", e);
        }
        int bad = Array.FindIndex(f, x => !float.IsFinite(x));
        if (bad >= 0) throw new BadInputException($"{path}: tensor '{t.Name}' element {bad} is {f[bad]}; expected finite values");
        return f;
    }
}
