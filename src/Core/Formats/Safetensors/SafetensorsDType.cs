namespace LlamaAdapter.Core.Formats.Safetensors;

/// <summary>The dtypes of the safetensors spec; names in the header are the enum names (F8_* carried as raw bytes).</summary>
public enum SafetensorsDType { BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64, F8_E4M3, F8_E5M2 }

public static class SafetensorsDTypes
{
    public static int ElementSize(this SafetensorsDType t) => t switch
    {
        SafetensorsDType.BOOL or SafetensorsDType.U8 or SafetensorsDType.I8
            or SafetensorsDType.F8_E4M3 or SafetensorsDType.F8_E5M2 => 1,
        SafetensorsDType.I16 or SafetensorsDType.U16 or SafetensorsDType.F16 or SafetensorsDType.BF16 => 2,
        SafetensorsDType.I32 or SafetensorsDType.U32 or SafetensorsDType.F32 => 4,
        SafetensorsDType.I64 or SafetensorsDType.U64 or SafetensorsDType.F64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, null),
    };

    /// <summary>Parses a header dtype string exactly as spelled in the spec (case-sensitive).</summary>
    public static bool TryParse(string s, out SafetensorsDType t) => ByName.TryGetValue(s, out t);

    private static readonly Dictionary<string, SafetensorsDType> ByName =
        Enum.GetValues<SafetensorsDType>().ToDictionary(v => v.ToString(), StringComparer.Ordinal);

    public static string Expected { get; } = string.Join("|", Enum.GetNames<SafetensorsDType>());
}
