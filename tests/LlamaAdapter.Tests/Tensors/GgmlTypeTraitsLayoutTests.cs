using System.Runtime.InteropServices;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tensors;

namespace LlamaAdapter.Tests.Tensors;

/// <summary>Our view of struct ggml_type_traits and our block table against ggml's own accessor functions.</summary>
public class GgmlTypeTraitsLayoutTests
{
    public static TheoryData<GgmlType> KnownTypes() => new(GgmlTypeTraits.All.Order());

    [Theory]
    [MemberData(nameof(KnownTypes))]
    public unsafe void TraitsStruct_AgreesWithGgmlAccessors(GgmlType type)
    {
        var traits = GgmlApi.ggml_get_type_traits(type);
        Assert.Equal(GgmlApi.ggml_blck_size(type), traits->BlockSize);
        Assert.Equal(GgmlApi.ggml_type_size(type), traits->TypeSize);
        Assert.Equal(Marshal.PtrToStringUTF8(GgmlApi.ggml_type_name(type)), Marshal.PtrToStringUTF8((IntPtr)traits->TypeName));
        Assert.Equal(GgmlApi.ggml_is_quantized(type), traits->IsQuantized != 0);
        Assert.Equal(0, traits->BlockSizeInterleave); // only ggml-cpu's repacked types interleave
    }

    [Theory]
    [MemberData(nameof(KnownTypes))]
    public void OurBlockTable_AgreesWithGgml(GgmlType type)
    {
        var layout = GgmlTypeTraits.Layout(type);
        Assert.Equal(GgmlApi.ggml_blck_size(type), layout.BlockSize);
        Assert.Equal(GgmlApi.ggml_type_size(type), (nuint)layout.TypeSize);
        Assert.Equal(GgmlApi.ggml_row_size(type, layout.BlockSize * 8L), (nuint)GgmlTypeTraits.RowBytes(type, layout.BlockSize * 8L)!.Value);
    }

    [Fact]
    public unsafe void ToFloat_IsWhereGgmlHasADequantizer()
    {
        // F16/BF16/Q8_0 have one, F32 (a plain copy) does not: the pointer fields are read at the right offsets.
        Assert.True(GgmlApi.ggml_get_type_traits(GgmlType.Q8_0)->ToFloat != null);
        Assert.True(GgmlApi.ggml_get_type_traits(GgmlType.F16)->ToFloat != null);
        Assert.True(GgmlApi.ggml_get_type_traits(GgmlType.Q8_0)->FromFloatRef != null);
        Assert.True(GgmlApi.ggml_get_type_traits(GgmlType.F32)->ToFloat == null);
        Assert.True(GgmlQuantizer.CanDequantize(GgmlType.Q6_K));
    }
}
