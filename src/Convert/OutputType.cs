using LlamaAdapter.Core;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Convert;

/// <summary>llama.cpp's enum llama_ftype: the number a GGUF stores in general.file_type.</summary>
public enum LlamaFileType : uint
{
    AllF32 = 0,
    MostlyF16 = 1,
    MostlyQ4_0 = 2,
    MostlyQ8_0 = 7,
    MostlyQ4_K_M = 15,
    MostlyQ5_K_M = 17,
    MostlyQ6_K = 18,
    MostlyBF16 = 32,
}

/// <summary>
/// A requested output type: the ggml type most 2-D weights get and the llama.cpp file type that names the mix.
/// Q4_K and Q5_K are llama.cpp's "_M" mixes (see <see cref="TensorTypePolicy"/>), the ones llama-quantize calls Q4_K_M/Q5_K_M.
/// </summary>
public sealed record OutputType(string Name, GgmlType WeightType, LlamaFileType FileType)
{
    public static readonly OutputType F32 = new("F32", GgmlType.F32, LlamaFileType.AllF32);
    public static readonly OutputType F16 = new("F16", GgmlType.F16, LlamaFileType.MostlyF16);
    public static readonly OutputType BF16 = new("BF16", GgmlType.BF16, LlamaFileType.MostlyBF16);
    public static readonly OutputType Q8_0 = new("Q8_0", GgmlType.Q8_0, LlamaFileType.MostlyQ8_0);
    public static readonly OutputType Q4_0 = new("Q4_0", GgmlType.Q4_0, LlamaFileType.MostlyQ4_0);
    public static readonly OutputType Q4_K = new("Q4_K", GgmlType.Q4_K, LlamaFileType.MostlyQ4_K_M);
    public static readonly OutputType Q5_K = new("Q5_K", GgmlType.Q5_K, LlamaFileType.MostlyQ5_K_M);
    public static readonly OutputType Q6_K = new("Q6_K", GgmlType.Q6_K, LlamaFileType.MostlyQ6_K);

    public static IReadOnlyList<OutputType> All { get; } = [F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K];

    /// <summary>Whether llama.cpp produces this mix with llama-quantize (per-tensor choices) rather than with its converter.</summary>
    public bool IsQuantizerMix => FileType is LlamaFileType.MostlyQ4_0 or LlamaFileType.MostlyQ4_K_M or LlamaFileType.MostlyQ5_K_M or LlamaFileType.MostlyQ6_K;

    /// <summary>Case-insensitive; Q4_K_M and Q5_K_M are accepted as the names llama.cpp uses.</summary>
    public static OutputType Parse(string name)
    {
        string n = (name ?? "").Trim().ToUpperInvariant();
        if (n == "Q4_K_M") n = "Q4_K";
        if (n == "Q5_K_M") n = "Q5_K";
        return All.FirstOrDefault(t => t.Name == n)
            ?? throw new BadInputException($"output type '{name}' is not supported; expected one of {string.Join(", ", All.Select(t => t.Name))}");
    }

    public override string ToString() => Name;
}
