using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Core.Tensors;

/// <summary>Block geometry of each ggml tensor type: elements per block and bytes per block (ggml's type_traits).</summary>
public static class GgmlTypeTraits
{
    public readonly record struct BlockLayout(int BlockSize, int TypeSize);

    private static readonly Dictionary<GgmlType, BlockLayout> Layouts = new()
    {
        [GgmlType.F32] = new(1, 4), [GgmlType.F16] = new(1, 2), [GgmlType.BF16] = new(1, 2), [GgmlType.F64] = new(1, 8),
        [GgmlType.I8] = new(1, 1), [GgmlType.I16] = new(1, 2), [GgmlType.I32] = new(1, 4), [GgmlType.I64] = new(1, 8),
        [GgmlType.Q4_0] = new(32, 18), [GgmlType.Q4_1] = new(32, 20), [GgmlType.Q5_0] = new(32, 22), [GgmlType.Q5_1] = new(32, 24),
        [GgmlType.Q8_0] = new(32, 34), [GgmlType.Q8_1] = new(32, 36), [GgmlType.IQ4_NL] = new(32, 18), [GgmlType.MXFP4] = new(32, 17),
        [GgmlType.Q2_K] = new(256, 84), [GgmlType.Q3_K] = new(256, 110), [GgmlType.Q4_K] = new(256, 144),
        [GgmlType.Q5_K] = new(256, 176), [GgmlType.Q6_K] = new(256, 210), [GgmlType.Q8_K] = new(256, 292),
        [GgmlType.IQ2_XXS] = new(256, 66), [GgmlType.IQ2_XS] = new(256, 74), [GgmlType.IQ3_XXS] = new(256, 98),
        [GgmlType.IQ1_S] = new(256, 50), [GgmlType.IQ3_S] = new(256, 110), [GgmlType.IQ2_S] = new(256, 82),
        [GgmlType.IQ4_XS] = new(256, 136), [GgmlType.IQ1_M] = new(256, 56), [GgmlType.TQ1_0] = new(256, 54),
        [GgmlType.TQ2_0] = new(256, 66),
    };

    public static bool IsKnown(GgmlType type) => Layouts.ContainsKey(type);

    public static BlockLayout Layout(GgmlType type) =>
        Layouts.TryGetValue(type, out var l) ? l : throw new InvalidDataException($"unknown ggml tensor type {(int)type}");

    /// <summary>Bytes of a row of <paramref name="ne0"/> elements; null when ne0 is not a whole number of blocks.</summary>
    public static long? RowBytes(GgmlType type, long ne0)
    {
        var l = Layout(type);
        return ne0 % l.BlockSize == 0 ? ne0 / l.BlockSize * l.TypeSize : null;
    }

    public static IEnumerable<GgmlType> All => Layouts.Keys;
}
