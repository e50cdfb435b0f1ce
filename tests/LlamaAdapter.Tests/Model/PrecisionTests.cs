using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Model;

/// <summary>
/// 16-bit forwards against float32 on the same weights (rounded to 16 bits first, so only compute precision differs).
/// Tolerance: max |Δlogit| ≤ 2% of max |logit| for bfloat16 (8-bit mantissa; 0.9% observed on CPU) and ≤ 0.4% for
/// float16 (11-bit mantissa; 0.16% observed).
/// </summary>
public class PrecisionTests
{
    [Theory]
    [InlineData(ScalarType.BFloat16, 0.02)]
    [InlineData(ScalarType.Float16, 0.004)]
    public void SixteenBitForward_IsCloseToFloat32(ScalarType dtype, double relTol)
    {
        using var scope = NewDisposeScope();
        var w = new TinyLlama(TinyLlama.DefaultConfig());
        var ids = TinyLlama.IdsTensor(TinyLlama.Ids());
        var rounded = w.Tensors(dtype);
        var m16 = new LlamaModel(w.Config, rounded, new LlamaModelOptions(DType: dtype), "tiny");
        var m32 = new LlamaModel(w.Config, rounded.ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float32)), new LlamaModelOptions(), "tiny");
        foreach (var m in new[] { m16, m32 })
            AdapterReference.Perturb(m.AttachNewAdapter(new AdapterConfig(AdapterKind.Nonlinear, PromptLength: 4, Layers: 2), new Generator(5)));
        var a = m16.forward(ids);
        Assert.Equal(dtype, a.dtype);
        var b = m32.forward(ids);
        double scale = b.abs().max().item<float>();
        double diff = (a.to(ScalarType.Float32) - b).abs().max().item<float>();
        Assert.InRange(diff / scale, 0, relTol);
        Assert.True(diff > 0, "the 16-bit path really ran in 16 bits");
    }

    [Fact]
    public void SixteenBitBackward_GivesFloat32AdapterGradients()
    {
        using var scope = NewDisposeScope();
        var w = new TinyLlama(TinyLlama.DefaultConfig());
        var model = w.Build(dtype: ScalarType.BFloat16);
        var adapter = model.AttachNewAdapter(new AdapterConfig(AdapterKind.Linear, PromptLength: 4, Layers: 2), new Generator(5));
        AdapterReference.Perturb(adapter);
        model.forward(TinyLlama.IdsTensor(TinyLlama.Ids())).to(ScalarType.Float32).pow(2).mean().backward();
        foreach (var (_, p) in model.TrainableParameters())
        {
            Assert.Equal(ScalarType.Float32, p.dtype);
            Assert.Equal(ScalarType.Float32, p.grad!.dtype);
            Assert.True(p.grad.isfinite().all().item<bool>());
        }
    }
}
