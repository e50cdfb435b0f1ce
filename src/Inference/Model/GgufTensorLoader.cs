using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Inference.Model;

/// <summary>
/// Declares GGUF tensors in a no-alloc ggml context after checking their type and shape (ggml aborts on a bad
/// shape, so nothing reaches it unchecked), then copies their bytes from the mapping into one backend buffer.
/// </summary>
internal sealed class GgufTensorLoader(GgufReader reader, GgmlContext context)
{
    private readonly List<(IntPtr Tensor, GgufTensorInfo Info)> _declared = [];

    /// <summary>Types ggml's CPU backend multiplies and gathers rows of directly (Q8_1/Q8_K are dot-product scratch types only).</summary>
    public static bool IsWeightType(GgmlType t) =>
        t is not (GgmlType.I8 or GgmlType.I16 or GgmlType.I32 or GgmlType.I64 or GgmlType.F64 or GgmlType.Q8_1 or GgmlType.Q8_K)
        && Enum.IsDefined(t);

    public IntPtr Matrix(string name, long ne0, long ne1) => Declare(name, [ne0, ne1], floatOnly: false);

    public IntPtr Vector(string name, long ne0) => Declare(name, [ne0], floatOnly: true);

    public IntPtr? OptionalVector(string name, long ne0) => reader.TryGetTensor(name, out _) ? Vector(name, ne0) : null;

    public bool Has(string name) => reader.TryGetTensor(name, out _);

    private IntPtr Declare(string name, long[] ne, bool floatOnly)
    {
        if (!reader.TryGetTensor(name, out var info))
            throw new BadInputException($"{reader.Path}: tensor '{name}' is missing (expected ne [{string.Join(", ", ne)}])");
        if (!info.Shape.SequenceEqual(ne))
            throw new BadInputException(
                $"{reader.Path}: tensor '{name}' at byte {info.FileOffset} has ne [{string.Join(", ", info.Shape)}], expected [{string.Join(", ", ne)}]");
        if (floatOnly ? info.Type != GgmlType.F32 : !IsWeightType(info.Type))
            throw new BadInputException(
                $"{reader.Path}: tensor '{name}' at byte {info.FileOffset} has type {info.Type}, expected " +
                (floatOnly ? "F32 (norm and rotary-factor vectors are kept in F32)" : "a float or quantized weight type"));
        IntPtr ctx = context.DangerousGetHandle();
        IntPtr t = ne.Length == 1
            ? GgmlApi.ggml_new_tensor_1d(ctx, info.Type, ne[0])
            : GgmlApi.ggml_new_tensor_2d(ctx, info.Type, ne[0], ne[1]);
        if (t == IntPtr.Zero) throw new GgmlException($"ggml could not declare tensor '{name}'");
        if ((long)GgmlApi.ggml_nbytes(t) != info.ByteSize)
            throw new BadInputException($"{reader.Path}: tensor '{name}' holds {info.ByteSize} bytes, ggml expects {GgmlApi.ggml_nbytes(t)} for {info.Type}");
        GgmlApi.ggml_set_name(t, name);
        _declared.Add((t, info));
        return t;
    }

    /// <summary>Allocates one backend buffer for every declared tensor and copies their bytes in.</summary>
    public unsafe GgmlBackendBuffer Upload(GgmlBackend backend)
    {
        var buffer = GgmlBackendBuffer.AllocContextTensors(context, backend);
        foreach (var (t, info) in _declared)
        {
            var data = reader.Data(info);
            GgmlApi.ggml_backend_tensor_set(t, (void*)data.Pointer, 0, (nuint)data.Length);
        }
        return buffer;
    }

    public int Count => _declared.Count;
}
