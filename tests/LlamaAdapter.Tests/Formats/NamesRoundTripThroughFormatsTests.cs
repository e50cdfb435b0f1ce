using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Meta;
using LlamaAdapter.Core.Formats.Safetensors;

namespace LlamaAdapter.Tests.Formats;

/// <summary>Meta checkpoint → HF safetensors (renamed, wq/wk permuted, as convert_llama_weights_to_hf) → back to Meta: bytes unchanged.</summary>
public sealed class NamesRoundTripThroughFormatsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rt-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void MetaToHfSafetensorsAndBack_PreservesEveryWeight()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "meta"));
        File.WriteAllBytes(Path.Combine(_dir, "meta", "consolidated.00.pth"), MetaFixture.Checkpoint());
        File.WriteAllText(Path.Combine(_dir, "meta", "params.json"), MetaFixture.ParamsJson);
        using var meta = MetaCheckpoint.Open(Path.Combine(_dir, "meta"));
        var cfg = meta.Config;

        // rope.freqs is a derived cache: the converter drops it, as HF's does.
        var weights = meta.Tensors.Where(t => TensorNames.Parse(t.Name, TensorNaming.Meta).Kind != LlamaTensor.RopeInverseFrequencies).ToList();
        string hfPath = Path.Combine(_dir, "model.safetensors");
        using (var w = new SafetensorsWriter(hfPath, weights.Select(t => new SafetensorsTensorDecl(TensorNames.Convert(t.Name, TensorNaming.Meta, TensorNaming.HuggingFace), t.DType, t.Shape))))
        {
            foreach (var t in weights)
            {
                var id = TensorNames.Parse(t.Name, TensorNaming.Meta);
                byte[] bytes = id.Kind switch
                {
                    LlamaTensor.AttnQ => RotaryPermutation.MetaToHf(meta.GetBytes(t.Name), (int)t.Shape[0], cfg.NHeads),
                    LlamaTensor.AttnK => RotaryPermutation.MetaToHf(meta.GetBytes(t.Name), (int)t.Shape[0], cfg.NKvHeads),
                    _ => meta.GetBytes(t.Name).ToArray(),
                };
                w.WriteTensor(TensorNames.Format(id, TensorNaming.HuggingFace), bytes);
            }
            w.Commit();
        }

        using var hf = SafetensorsModel.Open(_dir);
        Assert.Equal(weights.Count, hf.Tensors.Count);
        Assert.NotEqual(meta.GetBytes("layers.0.attention.wq.weight").ToArray(), hf.GetBytes("model.layers.0.self_attn.q_proj.weight").ToArray());
        foreach (var t in hf.Tensors)
        {
            var id = TensorNames.Parse(t.Name, TensorNaming.HuggingFace);
            string metaName = TensorNames.Format(id, TensorNaming.Meta);
            // GGUF keeps Meta's layout: llama.cpp's HF→GGUF permute is our HfToMeta.
            byte[] back = id.Kind switch
            {
                LlamaTensor.AttnQ => RotaryPermutation.HfToMeta(hf.GetBytes(t.Name), (int)t.Shape[0], cfg.NHeads),
                LlamaTensor.AttnK => RotaryPermutation.HfToMeta(hf.GetBytes(t.Name), (int)t.Shape[0], cfg.NKvHeads),
                _ => hf.GetBytes(t.Name).ToArray(),
            };
            Assert.Equal(meta.GetBytes(metaName).ToArray(), back);
            Assert.Equal(meta[metaName].Shape, t.Shape);
            Assert.Equal(TensorNames.Convert(metaName, TensorNaming.Meta, TensorNaming.Gguf), TensorNames.Format(id, TensorNaming.Gguf));
        }
    }
}
