using System.Globalization;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Training.Model;

namespace LlamaAdapter.Training.Peft;

/// <summary>
/// A <see cref="LoraConfig"/> or <see cref="BitFitConfig"/> and the base shape as the string map a checkpoint and an
/// extracted adapter carry (the extractor prefixes <c>adapter.</c>): kind (lora | bitfit), targets ("wq,wv"),
/// rank, alpha, dropout (LoRA), base.* shape keys, and for LoRA on a loaded model base.rope_layout (interleaved |
/// half_split): the row order of wq/wk, hence of their lora_b, which an export to llama.cpp (Meta row order) must
/// know. Numbers are written round-trip exact.
/// </summary>
public static class PeftDescription
{
    public const string LoraKind = "lora", BitFitKind = "bitfit";
    public const string RopeLayoutKey = "base.rope_layout";

    public static IReadOnlyDictionary<string, string> Describe(LlamaConfig model, LoraConfig lora)
    {
        var d = Base(model, LoraKind, lora.TargetList);
        d["rank"] = lora.Rank.ToString(CultureInfo.InvariantCulture);
        d["alpha"] = lora.Alpha.ToString("R", CultureInfo.InvariantCulture);
        d["dropout"] = lora.Dropout.ToString("R", CultureInfo.InvariantCulture);
        return d;
    }

    /// <summary>As <see cref="Describe(LlamaConfig, LoraConfig)"/>, plus the model's rotary layout (base.rope_layout).</summary>
    public static IReadOnlyDictionary<string, string> Describe(LlamaModel model, LoraConfig lora)
    {
        var d = new Dictionary<string, string>(Describe(model.Config, lora), StringComparer.Ordinal)
        {
            [RopeLayoutKey] = LayoutName(model.Options.Layout),
        };
        return d;
    }

    /// <summary>Interleaved → "interleaved", HalfSplit → "half_split".</summary>
    public static string LayoutName(RopeLayout layout) => layout == RopeLayout.HalfSplit ? "half_split" : "interleaved";

    /// <summary>The rotary layout a description records, or null when it records none (written before the key existed).</summary>
    public static RopeLayout? ParseLayout(IReadOnlyDictionary<string, string> d, string source)
    {
        if (!d.TryGetValue(RopeLayoutKey, out var v)) return null;
        return v switch
        {
            "interleaved" => RopeLayout.Interleaved,
            "half_split" => RopeLayout.HalfSplit,
            _ => throw new BadInputException($"{source}: adapter field '{RopeLayoutKey}' is '{v}'; expected interleaved or half_split"),
        };
    }

    public static IReadOnlyDictionary<string, string> Describe(LlamaConfig model, BitFitConfig bitFit) =>
        Base(model, BitFitKind, bitFit.TargetList);

    /// <summary>The LoRA configuration a description names; <paramref name="source"/> is the file, for errors.</summary>
    public static LoraConfig ParseLora(IReadOnlyDictionary<string, string> d, string source)
    {
        Expect(d, LoraKind, source);
        int rank = int.TryParse(Get(d, "rank", source), NumberStyles.Integer, CultureInfo.InvariantCulture, out int r) && r >= 1 ? r
            : throw new BadInputException($"{source}: adapter field 'rank' is '{d["rank"]}'; expected a positive integer");
        return new LoraConfig(rank, Number(d, "alpha", source), Number(d, "dropout", source), Targets(d, source));
    }

    public static BitFitConfig ParseBitFit(IReadOnlyDictionary<string, string> d, string source)
    {
        Expect(d, BitFitKind, source);
        return new BitFitConfig(Targets(d, source));
    }

    private static Dictionary<string, string> Base(LlamaConfig c, string kind, IEnumerable<Projection> targets)
    {
        string I(int v) => v.ToString(CultureInfo.InvariantCulture);
        return new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["kind"] = kind,
            ["targets"] = Projections.Format(targets),
            ["base.embedding_length"] = I(c.Dim),
            ["base.block_count"] = I(c.NLayers),
            ["base.head_count"] = I(c.NHeads),
            ["base.head_count_kv"] = I(c.NKvHeads),
            ["base.feed_forward_length"] = I(c.FfnDim),
            ["base.vocab_size"] = I(c.VocabSize),
        };
    }

    private static string Get(IReadOnlyDictionary<string, string> d, string key, string source) =>
        d.TryGetValue(key, out var v) ? v : throw new BadInputException($"{source}: adapter field '{key}' is missing");

    private static void Expect(IReadOnlyDictionary<string, string> d, string kind, string source)
    {
        if (Get(d, "kind", source) != kind) throw new BadInputException($"{source}: adapter field 'kind' is '{d["kind"]}'; expected '{kind}'");
    }

    private static double Number(IReadOnlyDictionary<string, string> d, string key, string source) =>
        double.TryParse(Get(d, key, source), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v) ? v
            : throw new BadInputException($"{source}: adapter field '{key}' is '{d[key]}'; expected a number");

    private static IReadOnlyList<Projection> Targets(IReadOnlyDictionary<string, string> d, string source)
    {
        try { return Projections.Parse(Get(d, "targets", source), "targets"); }
        catch (ArgumentException e) { throw new BadInputException($"{source}: adapter field {e.Message}", e); }
    }
}
