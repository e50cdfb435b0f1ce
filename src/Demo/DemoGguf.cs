using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Training.Loading;
using LlamaAdapter.Training.Model;
using static TorchSharp.torch;

namespace LlamaAdapter.Demo;

/// <summary>Writes a TorchSharp LLaMA's weights as a llama.cpp GGUF with the given tokenizer keys (the demo's base model).</summary>
public static class DemoGguf
{
    public static void Write(LlamaModel model, string path, GgufMetadata tokenizer, GgmlType type = GgmlType.F32, string name = "llama-adapter-demo")
    {
        // Interleaved rotary rows are llama.cpp's layout, so Meta-named weights go to GGUF as they are.
        if (model.Options.Layout != RopeLayout.Interleaved)
            throw new ArgumentException($"the model uses the {model.Options.Layout} rotary layout; DemoGguf writes only Meta-layout (interleaved) weights");
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter, StringComparer.Ordinal);
        var data = new Dictionary<string, float[]>(StringComparer.Ordinal);
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var (n, shape) in WeightSource.ExpectedTensors(model.Config))
        {
            var t = parameters.TryGetValue(n, out var p) ? p
                  : throw new InvalidOperationException($"the model has no parameter '{n}'");
            using var f = t.detach().to(ScalarType.Float32, CPU).contiguous();
            data[n] = f.data<float>().ToArray();
            shapes[n] = shape;
        }
        TinyLlamaFactory.WriteGguf(new TinyLlamaWeights(model.Config, data, shapes), path, type, tokenizer, name);
    }
}
