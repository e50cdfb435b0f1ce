using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Ggml;

namespace LlamaAdapter.Inference.Model;

/// <summary>
/// Declares GGUF tensors in a no-alloc ggml context after checking their type and shape (ggml aborts on a bad
/// shape, so nothing reaches it unchecked), each in the context of the backend its layer is placed on, then copies
/// their bytes from the mapping into those backends' buffers. With <paramref name="cpuExtra"/>, a CPU-resident matmul
/// weight (<see cref="MatMulWeight"/>) goes into the first CPU extra buffer type (CPU_REPACK) that accepts it, as
/// llama.cpp places it; everything else, and every tensor of a <see cref="Matrix"/> call, stays in plain buffers.
/// </summary>
internal sealed class GgufTensorLoader(GgufReader reader, PlacedContexts contexts, CpuWeightBufferTypes? cpuExtra = null)
{
    private readonly List<(IntPtr Tensor, GgufTensorInfo Info)> _declared = [];
    private readonly List<(string Name, string BufferType)> _extra = [];

    /// <summary>Types ggml's CPU backend multiplies and gathers rows of directly (Q8_1/Q8_K are dot-product scratch types only).</summary>
    public static bool IsWeightType(GgmlType t) =>
        t is not (GgmlType.I8 or GgmlType.I16 or GgmlType.I32 or GgmlType.I64 or GgmlType.F64 or GgmlType.Q8_1 or GgmlType.Q8_K)
        && Enum.IsDefined(t);

    /// <param name="layer">the block it belongs to, or <see cref="ModelPlacement.Output"/> / <see cref="ModelPlacement.Embeddings"/>.</param>
    public IntPtr Matrix(string name, long ne0, long ne1, int layer) => Declare(name, [ne0, ne1], floatOnly: false, layer, IntPtr.Zero);

    /// <summary>
    /// A weight that is only ever the first operand of a MUL_MAT (never gathered, read back or fed to another op):
    /// on a CPU layer it may go into an extra buffer type. Checked (type, shape) before ggml is asked about it.
    /// </summary>
    public IntPtr MatMulWeight(string name, long ne0, long ne1, int layer)
    {
        IntPtr buft = ExtraBufferTypeFor(name, ne0, ne1, layer);
        IntPtr t = Declare(name, [ne0, ne1], floatOnly: false, layer, buft);
        if (buft != IntPtr.Zero) _extra.Add((name, CpuWeightBufferTypes.Name(buft)));
        return t;
    }

    /// <summary>Whether <see cref="MatMulWeight"/> would put <paramref name="name"/> into an extra buffer type.</summary>
    public bool WouldUseExtraBuffer(string name, long ne0, long ne1, int layer) => ExtraBufferTypeFor(name, ne0, ne1, layer) != IntPtr.Zero;

    /// <summary>Zero for a GPU layer, a tensor <see cref="Declare"/> will refuse, or one no extra buffer type takes.</summary>
    private IntPtr ExtraBufferTypeFor(string name, long ne0, long ne1, int layer) =>
        cpuExtra is { } extra && !contexts.OnGpu(layer) && reader.TryGetTensor(name, out var info)
        && info.Shape.SequenceEqual([ne0, ne1]) && IsWeightType(info.Type)
            ? extra.ForMatMul(info.Type, ne0, ne1)
            : IntPtr.Zero;

    /// <summary>The weights placed in extra buffer types, with the type's name (CPU_REPACK...).</summary>
    public IReadOnlyList<(string Name, string BufferType)> ExtraBufferWeights => _extra;

    public IntPtr Vector(string name, long ne0, int layer) => Declare(name, [ne0], floatOnly: true, layer, IntPtr.Zero);

    public IntPtr? OptionalVector(string name, long ne0, int layer) => reader.TryGetTensor(name, out _) ? Vector(name, ne0, layer) : null;

    public bool Has(string name) => reader.TryGetTensor(name, out _);

    private IntPtr Declare(string name, long[] ne, bool floatOnly, int layer, IntPtr extraBufferType)
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
        IntPtr ctx = (extraBufferType != IntPtr.Zero ? contexts.ForCpuBufferType(extraBufferType) : contexts.For(layer)).DangerousGetHandle();
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

    /// <summary>Allocates the backend buffers for every declared tensor (<paramref name="what"/> names them in a memory error) and copies their bytes in.</summary>
    public unsafe void Upload(string what)
    {
        contexts.Allocate(what, weights: true);
        foreach (var (t, info) in _declared)
        {
            var data = reader.Data(info);
            GgmlApi.ggml_backend_tensor_set(t, (void*)data.Pointer, 0, (nuint)data.Length);
        }
    }

    public int Count => _declared.Count;
}
