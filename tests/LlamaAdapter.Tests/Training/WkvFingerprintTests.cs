using System.Runtime.InteropServices;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Tests.Model;
using LlamaAdapter.Training.Loading;
using LlamaAdapter.Training.Pipeline;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Training;

/// <summary>The base.wkv_sha256 an extracted adapter carries, on a model loaded from HF (half-split) weights.</summary>
public sealed class WkvFingerprintTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("loader-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void WkvSha256_IsTheDocumentedHash_WhateverTheRotaryLayout()
    {
        var tiny = new TinyLlama(TinyLlama.DefaultConfig(), seed: 5);
        var c = tiny.Config;
        File.WriteAllText(Path.Combine(_dir, "config.json"), $$"""
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": {{c.Dim}}, "intermediate_size": {{c.FfnDim}},
             "num_attention_heads": {{c.NHeads}}, "num_hidden_layers": {{c.NLayers}}, "num_key_value_heads": {{c.NKvHeads}},
             "vocab_size": {{c.VocabSize}}, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "max_position_embeddings": {{c.ContextLength}},
             "tie_word_embeddings": false}
            """);
        // HF stores q/k rows in the half-split rotary order (convert_llama_weights_to_hf.py's permute).
        var hf = tiny.Data.ToDictionary(
            kv => TensorNames.Convert(kv.Key, TensorNaming.Meta, TensorNaming.HuggingFace),
            kv => kv.Key.EndsWith("attention.wq.weight") ? TinyLlama.PermuteToHalfSplit(kv.Value, c.NHeads, c.Dim, c.Dim)
                : kv.Key.EndsWith("attention.wk.weight") ? TinyLlama.PermuteToHalfSplit(kv.Value, c.NKvHeads, c.KvDim, c.Dim)
                : kv.Value);
        var shapes = tiny.Shapes.ToDictionary(kv => TensorNames.Convert(kv.Key, TensorNaming.Meta, TensorNaming.HuggingFace), kv => kv.Value);
        using (var w = new SafetensorsWriter(Path.Combine(_dir, "model.safetensors"), hf.Keys.Select(n => new SafetensorsTensorDecl(n, SafetensorsDType.F32, shapes[n]))))
        {
            foreach (var (n, v) in hf) w.WriteTensor(n, MemoryMarshal.AsBytes(v.AsSpan()));
            w.Commit();
        }

        using var loaded = PretrainedLlama.Load(_dir, ScalarType.Float32, CPU);
        using var reference = tiny.Build();
        using var ids = TinyLlama.IdsTensor(TinyLlama.Ids());
        using var a = loaded.forward(ids);
        using var b = reference.forward(ids);
        Assert.True(a.allclose(b, rtol: 1e-5, atol: 1e-5), $"max |diff| {(a - b).abs().max().item<float>()}");
        Assert.All(loaded.parameters(), p => Assert.False(p.requires_grad));
        // the wk/wv hash reads the same from the half-split HF weights as from the Meta ones
        Assert.Equal(AdapterDescription.WkvSha256(reference, 1), AdapterDescription.WkvSha256(loaded, 1));
        Assert.NotEqual(AdapterDescription.WkvSha256(reference, 1), AdapterDescription.WkvSha256(reference, 2));
        // and is the hash docs/adapter-gguf.md defines, computed here straight from the Meta arrays
        var bytes = new List<byte>();
        for (int i = 1; i < c.NLayers; i++)
            foreach (var w in new[] { "wk", "wv" })
                bytes.AddRange(MemoryMarshal.AsBytes(tiny.Data[$"layers.{i}.attention.{w}.weight"].AsSpan()).ToArray());
        Assert.Equal(System.Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes.ToArray())), AdapterDescription.WkvSha256(loaded, 1));
    }
}
