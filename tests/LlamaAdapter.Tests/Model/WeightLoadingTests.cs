using LlamaAdapter.Core;
using LlamaAdapter.Training.Model;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Model;

public class WeightLoadingTests
{
    [Fact]
    public void WrongShape_NamesTheTensorAndTheExpectedShape()
    {
        using var scope = NewDisposeScope();
        var w = new TinyLlama(TinyLlama.DefaultConfig());
        var tensors = w.Tensors();
        tensors["layers.1.attention.wk.weight"] = zeros(64, 64); // GQA: [kv_dim=32, dim=64]
        var e = Assert.Throws<BadInputException>(() => new LlamaModel(w.Config, tensors, new LlamaModelOptions(), "tiny.safetensors"));
        Assert.Contains("tiny.safetensors", e.Message);
        Assert.Contains("'layers.1.attention.wk.weight'", e.Message);
        Assert.Contains("[64, 64]", e.Message);
        Assert.Contains("expected [32, 64]", e.Message);
    }

    [Fact]
    public void MissingTensor_IsNamed()
    {
        using var scope = NewDisposeScope();
        var w = new TinyLlama(TinyLlama.DefaultConfig());
        var tensors = w.Tensors();
        tensors.Remove("output.weight");
        var e = Assert.Throws<BadInputException>(() => new LlamaModel(w.Config, tensors, new LlamaModelOptions(), "tiny"));
        Assert.Contains("'output.weight' is missing", e.Message);
        Assert.Contains("[97, 64]", e.Message);
        // A Func source that throws KeyNotFoundException reads the same.
        var e2 = Assert.Throws<BadInputException>(() => new LlamaModel(w.Config, n => n == "norm.weight" ? throw new KeyNotFoundException() : tensors.GetValueOrDefault(n), new LlamaModelOptions(), "tiny"));
        Assert.Contains("'norm.weight' is missing", e2.Message);
    }

    [Fact]
    public void IntegerTensor_IsRejected()
    {
        using var scope = NewDisposeScope();
        var w = new TinyLlama(TinyLlama.DefaultConfig());
        var tensors = w.Tensors();
        tensors["norm.weight"] = ones([64], ScalarType.Int32);
        Assert.Contains("floating-point", Assert.Throws<BadInputException>(() => new LlamaModel(w.Config, tensors, new LlamaModelOptions(), "tiny")).Message);
    }

    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    public void SixteenBitWeights_AreUsedInPlace_NoFloat32Copy(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var w = new TinyLlama(TinyLlama.DefaultConfig());
        var tensors = w.Tensors(dtype);
        var model = new LlamaModel(w.Config, tensors, new LlamaModelOptions(DType: dtype), "tiny");
        foreach (var (name, p) in model.named_parameters())
        {
            Assert.Equal(dtype, p.dtype);
            // Same storage, not a converted copy: a write to the source shows through the parameter.
            using (no_grad()) tensors[name].fill_(0.5);
            Assert.True(p.eq(0.5).all().item<bool>(), name);
        }
    }

    [Fact]
    public void Parameters_HaveMetaNames_AndAreFrozen()
    {
        using var scope = NewDisposeScope();
        var w = new TinyLlama(TinyLlama.DefaultConfig());
        var model = w.Build();
        var names = model.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Equal(WeightSource.ExpectedTensors(w.Config).Select(e => e.Name).ToHashSet(), names);
        Assert.All(model.parameters(), p => Assert.False(p.requires_grad));
        Assert.Empty(model.TrainableParameters());
    }

    [Fact]
    public void ImpossibleRopeScaling_IsRejected()
    {
        using var scope = NewDisposeScope();
        var c = TinyLlama.DefaultConfig(scaling: new Core.Config.RopeScaling(Core.Config.RopeScalingType.Llama3, 8, LowFreqFactor: 4, HighFreqFactor: 1));
        Assert.Contains("low_freq_factor < high_freq_factor", Assert.Throws<ArgumentException>(() => new TinyLlama(c).Build()).Message);
    }
}
