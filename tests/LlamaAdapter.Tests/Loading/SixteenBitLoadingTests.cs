using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Training.Loading;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Loading;

/// <summary>A 16-bit file into a 16-bit model stays 16-bit: no float32 copy, bit-exact parameters, little managed memory.</summary>
public class SixteenBitLoadingTests(LoadingFiles files) : IClassFixture<LoadingFiles>
{
    [Fact]
    public void Bf16Safetensors_IntoBf16Model_KeepsTheStoredBits()
    {
        using var scope = NewDisposeScope();
        var model = PretrainedLlama.Load(files.HfBf16, ScalarType.BFloat16);
        using var st = SafetensorsModel.Open(files.HfBf16);
        foreach (var (name, p) in model.named_parameters())
        {
            Assert.Equal(ScalarType.BFloat16, p.dtype);
            string hfName = LlamaAdapter.Core.Formats.TensorNames.Convert(name, LlamaAdapter.Core.Formats.TensorNaming.Meta, LlamaAdapter.Core.Formats.TensorNaming.HuggingFace);
            Assert.True(st.GetBytes(hfName).SequenceEqual(p.contiguous().bytes), name);
        }
    }

    [Fact]
    public void Bf16File_IntoFloat32Model_IsTheExactWidening()
    {
        using var scope = NewDisposeScope();
        var f32 = PretrainedLlama.Load(files.HfBf16, ScalarType.Float32);
        var bf16 = PretrainedLlama.Load(files.HfBf16, ScalarType.BFloat16);
        var widened = bf16.named_parameters().ToDictionary(p => p.name, p => p.parameter.to(ScalarType.Float32));
        foreach (var (name, p) in f32.named_parameters())
        {
            Assert.Equal(ScalarType.Float32, p.dtype);
            Assert.True(p.eq(widened[name]).all().item<bool>(), name);
        }
    }

    [Fact]
    public void Bf16Load_AllocatesLittleManagedMemory_AndNoFloat32Parameters()
    {
        // A model big enough (≈ 11 MB in bf16) that a float32 staging copy would show in managed allocations.
        var config = TinyLlamaFactory.DefaultConfig() with { Dim = 256, NHeads = 4, NKvHeads = 4, FfnDim = 512, VocabSize = 8192, NLayers = 2 };
        var w = TinyLlamaFactory.Create(config, seed: 3);
        string dir = files.P("bf16-big");
        TinyLlamaFactory.WriteHuggingFace(w, dir, SafetensorsDType.BF16);
        long bf16Bytes = w.Data.Values.Sum(v => 2L * v.Length);

        using var scope = NewDisposeScope();
        PretrainedLlama.Load(dir, ScalarType.BFloat16).Dispose(); // warm up code paths
        long before = GC.GetAllocatedBytesForCurrentThread();
        var model = PretrainedLlama.Load(dir, ScalarType.BFloat16);
        long managed = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.BFloat16, p.dtype));
        Assert.Equal(bf16Bytes, model.parameters().Sum(p => p.numel() * 2));
        Assert.InRange(managed, 0, bf16Bytes / 20); // bytes go mapping → tensor memory; only bookkeeping is managed
    }

    [Theory]
    [InlineData(GgmlType.F32, ScalarType.BFloat16)]
    [InlineData(GgmlType.F16, ScalarType.BFloat16)]
    [InlineData(GgmlType.Q8_0, ScalarType.Float16)]
    [InlineData(GgmlType.Q8_0, ScalarType.BFloat16)]
    public void GgufInto16BitModel_EqualsTorchsRoundingOfTheFloat32Load(GgmlType fileType, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        string path = fileType switch { GgmlType.F32 => files.GgufF32, GgmlType.F16 => files.GgufF16, _ => files.GgufQ8 };
        var direct = PretrainedLlama.Load(path, dtype);
        var viaF32 = PretrainedLlama.Load(path, ScalarType.Float32).named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var (name, p) in direct.named_parameters())
        {
            Assert.Equal(dtype, p.dtype);
            Assert.True(p.eq(viaF32[name].to(dtype)).all().item<bool>(), name);
        }
    }
}
