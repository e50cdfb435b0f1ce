using System.Globalization;

namespace LlamaAdapter.Core.Formats.Gguf;

/// <summary>enum gguf_type: the value types of GGUF metadata (numbers as in the file).</summary>
public enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
    String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>
/// One GGUF metadata value. Scalars hold the CLR type of their GGUF type (byte, sbyte, ushort, short, uint,
/// int, float, bool, string, ulong, long, double). An array holds a CLR array of its element type
/// (e.g. string[] for tokenizer.ggml.tokens, float[] for scores), or <see cref="GgufValue"/>[] when its
/// elements are themselves arrays.
/// </summary>
public sealed class GgufValue : IEquatable<GgufValue>
{
    public GgufValueType Type { get; }
    /// <summary>For arrays, the type of the elements; otherwise equal to <see cref="Type"/>.</summary>
    public GgufValueType ElementType { get; }
    public object Raw { get; }

    private GgufValue(GgufValueType type, GgufValueType elementType, object raw)
    {
        Type = type;
        ElementType = elementType;
        Raw = raw;
    }

    public static GgufValue Of(byte v) => new(GgufValueType.UInt8, GgufValueType.UInt8, v);
    public static GgufValue Of(sbyte v) => new(GgufValueType.Int8, GgufValueType.Int8, v);
    public static GgufValue Of(ushort v) => new(GgufValueType.UInt16, GgufValueType.UInt16, v);
    public static GgufValue Of(short v) => new(GgufValueType.Int16, GgufValueType.Int16, v);
    public static GgufValue Of(uint v) => new(GgufValueType.UInt32, GgufValueType.UInt32, v);
    public static GgufValue Of(int v) => new(GgufValueType.Int32, GgufValueType.Int32, v);
    public static GgufValue Of(float v) => new(GgufValueType.Float32, GgufValueType.Float32, v);
    public static GgufValue Of(bool v) => new(GgufValueType.Bool, GgufValueType.Bool, v);
    public static GgufValue Of(string v) => new(GgufValueType.String, GgufValueType.String, v ?? throw new ArgumentNullException(nameof(v)));
    public static GgufValue Of(ulong v) => new(GgufValueType.UInt64, GgufValueType.UInt64, v);
    public static GgufValue Of(long v) => new(GgufValueType.Int64, GgufValueType.Int64, v);
    public static GgufValue Of(double v) => new(GgufValueType.Float64, GgufValueType.Float64, v);

    /// <summary>An array of scalars; <typeparamref name="T"/> must be the CLR type of a GGUF scalar type.</summary>
    public static GgufValue Array<T>(T[] items) where T : notnull =>
        new(GgufValueType.Array, ScalarTypeOf(typeof(T)), items ?? throw new ArgumentNullException(nameof(items)));

    /// <summary>An array whose elements are arrays (GGUF allows nesting).</summary>
    public static GgufValue ArrayOfArrays(GgufValue[] items)
    {
        ArgumentNullException.ThrowIfNull(items);
        if (items.Any(i => i.Type != GgufValueType.Array))
            throw new ArgumentException("every element of a nested GGUF array must itself be an array", nameof(items));
        return new(GgufValueType.Array, GgufValueType.Array, items);
    }

    public static GgufValueType ScalarTypeOf(Type t) =>
        t == typeof(byte) ? GgufValueType.UInt8 : t == typeof(sbyte) ? GgufValueType.Int8
        : t == typeof(ushort) ? GgufValueType.UInt16 : t == typeof(short) ? GgufValueType.Int16
        : t == typeof(uint) ? GgufValueType.UInt32 : t == typeof(int) ? GgufValueType.Int32
        : t == typeof(float) ? GgufValueType.Float32 : t == typeof(bool) ? GgufValueType.Bool
        : t == typeof(string) ? GgufValueType.String : t == typeof(ulong) ? GgufValueType.UInt64
        : t == typeof(long) ? GgufValueType.Int64 : t == typeof(double) ? GgufValueType.Float64
        : throw new ArgumentException($"{t} is not a GGUF scalar type");

    public bool IsArray => Type == GgufValueType.Array;
    public int ArrayLength => IsArray ? ((System.Array)Raw).Length : throw new InvalidOperationException($"a {Type} is not an array");

    public string AsString() => Raw as string ?? throw Mismatch("string");
    public bool AsBool() => Raw is bool b ? b : throw Mismatch("bool");

    /// <summary>Any integer type, widened; unsigned values above long.MaxValue are refused.</summary>
    public long AsInt64() => Raw switch
    {
        byte v => v, sbyte v => v, ushort v => v, short v => v, uint v => v, int v => v, long v => v,
        ulong v when v <= long.MaxValue => (long)v,
        _ => throw Mismatch("integer"),
    };

    /// <summary>Any numeric type as a double (the float32 fields of llama.* come back exact).</summary>
    public double AsDouble() => Raw switch
    {
        float v => v, double v => v,
        _ when Type is not (GgufValueType.String or GgufValueType.Bool or GgufValueType.Array) => AsInt64(),
        _ => throw Mismatch("number"),
    };

    public T[] AsArray<T>() => Raw as T[] ?? throw Mismatch($"array of {typeof(T).Name}");

    private InvalidDataException Mismatch(string wanted) =>
        new($"expected a {wanted}, found a {(IsArray ? $"array of {ElementType}" : Type.ToString())}");

    public bool Equals(GgufValue? other)
    {
        if (other is null || other.Type != Type || other.ElementType != ElementType) return false;
        if (!IsArray) return Raw.Equals(other.Raw);
        var a = (System.Array)Raw;
        var b = (System.Array)other.Raw;
        if (a.Length != b.Length) return false;
        for (int i = 0; i < a.Length; i++)
            if (!Equals(a.GetValue(i), b.GetValue(i))) return false;
        return true;
    }

    public override bool Equals(object? obj) => Equals(obj as GgufValue);
    public override int GetHashCode() => HashCode.Combine(Type, ElementType, IsArray ? ArrayLength : Raw.GetHashCode());

    /// <summary>A short display form: scalars as themselves, arrays as their type and length plus the first items.</summary>
    public override string ToString()
    {
        if (!IsArray) return Raw is float f ? f.ToString("R", CultureInfo.InvariantCulture)
                           : Raw is double d ? d.ToString("R", CultureInfo.InvariantCulture)
                           : Convert.ToString(Raw, CultureInfo.InvariantCulture) ?? "";
        var a = (System.Array)Raw;
        var head = a.Cast<object>().Take(4).Select(o => o is string s ? $"\"{s}\"" : Convert.ToString(o, CultureInfo.InvariantCulture));
        return $"[{ElementType} × {a.Length}] {string.Join(", ", head)}{(a.Length > 4 ? ", …" : "")}";
    }
}
