using LlamaAdapter.Training.Adapters;
using LlamaAdapter.Training.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Peft;

/// <summary>
/// Puts LoRA branches or BitFit biases on a <see cref="LlamaModel"/>'s projections. The trainables are float32
/// (float64 on a float64 model) on the model's device and are named after the projection they sit on:
/// <c>layers.{i}.attention.wq.lora_a</c> [r, in], <c>….lora_b</c> [out, r], <c>layers.{i}.feed_forward.w1.bias</c> [out].
/// </summary>
public static class PeftAttach
{
    /// <summary>The model's projection of <paramref name="p"/> in layer <paramref name="layer"/>.</summary>
    public static FrozenLinear ProjectionAt(this LlamaModel model, int layer, Projection p)
    {
        string name = $"layers.{layer}.{p.Path()}";
        return model.named_modules().FirstOrDefault(m => m.name == name).module as FrozenLinear
               ?? throw new ArgumentException($"model has no projection {name}");
    }

    /// <summary>Every (layer, projection, module) for <paramref name="targets"/>, layer-major, projections in block order.</summary>
    public static IEnumerable<(int Layer, Projection Target, FrozenLinear Module)> TargetProjections(this LlamaModel model, IEnumerable<Projection> targets)
    {
        var byName = model.named_modules().Where(m => m.module is FrozenLinear).ToDictionary(m => m.name, m => (FrozenLinear)m.module);
        var list = targets.Distinct().Order().ToList();
        for (int i = 0; i < model.Config.NLayers; i++)
            foreach (var t in list)
                yield return (i, t, byName[$"layers.{i}.{t.Path()}"]);
    }

    /// <summary>
    /// A ~ U(±1/√in) (kaiming_uniform_ with a=√5, PEFT reset_lora_parameters), drawn from <paramref name="generator"/>
    /// layer by layer in block order; B = 0.
    /// </summary>
    public static void AttachLora(this LlamaModel model, LoraConfig config, Generator? generator = null)
    {
        config.Validate();
        var (dtype, device) = (model.Options.AdapterDType, model.Options.TargetDevice);
        foreach (var (_, _, m) in model.TargetProjections(config.TargetList))
        {
            var a = new Parameter(empty(config.Rank, m.InFeatures, dtype: dtype, device: device));
            ParameterInit.Uniform(a, 1.0 / Math.Sqrt(m.InFeatures), generator);
            var b = new Parameter(zeros(m.OutFeatures, config.Rank, dtype: dtype, device: device));
            m.AttachLora(a, b, config.Scale, config.Dropout);
        }
    }

    /// <summary>Zero biases [out] on the chosen projections of every layer.</summary>
    public static void AttachBitFit(this LlamaModel model, BitFitConfig config)
    {
        config.Validate();
        var (dtype, device) = (model.Options.AdapterDType, model.Options.TargetDevice);
        foreach (var (_, _, m) in model.TargetProjections(config.TargetList))
            m.AttachBias(new Parameter(zeros(m.OutFeatures, dtype: dtype, device: device)));
    }
}
