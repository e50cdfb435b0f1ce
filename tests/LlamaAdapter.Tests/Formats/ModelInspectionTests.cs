using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Tests.Formats;

public class ModelInspectionTests
{
    private static readonly LlamaConfig Tiny = new(Dim: 64, NLayers: 2, NHeads: 4, NKvHeads: 2, FfnDim: 96, VocabSize: 32);

    [Fact]
    public void Gguf_lists_metadata_tensors_and_the_llama_configuration()
    {
        using var dir = new TempDir();
        string path = dir.File("m.gguf");
        var md = new GgufMetadata();
        md.Set("general.architecture", GgufValue.Of("llama"));
        Tiny.ToGguf(md);
        var specs = new[] { new GgufTensorSpec("token_embd.weight", GgmlType.F16, [64, 32]), new GgufTensorSpec("output_norm.weight", GgmlType.F32, [64]) };
        using (var w = GgufWriter.Create(path, md, specs))
        {
            w.WriteTensor("token_embd.weight", new byte[64 * 32 * 2]);
            w.WriteTensor("output_norm.weight", new byte[64 * 4]);
            w.Commit();
        }

        var s = ModelInspection.Open(path);
        Assert.Equal(ModelFileFormat.Gguf, s.Format);
        Assert.Equal(["token_embd.weight", "output_norm.weight"], s.Tensors.Select(t => t.Name));
        Assert.Equal(new long[] { 64, 32 }, s.Tensors[0].Shape);
        Assert.Equal("F16", s.Tensors[0].Type);
        Assert.Equal(64 * 32 * 2 + 64 * 4, s.TotalBytes);
        Assert.Contains(s.Metadata, m => m.Key == "llama.block_count" && m.Value == "2");
        Assert.Equal(Tiny.Dim, s.Config!.Dim);
        Assert.Equal(Tiny.NKvHeads, s.Config.NKvHeads);
    }

    [Fact]
    public void Safetensors_directory_uses_config_json_and_a_file_without_one_says_why_there_is_no_config()
    {
        using var dir = new TempDir();
        string st = dir.File("model.safetensors");
        using (var w = new SafetensorsWriter(st, [new SafetensorsTensorDecl("model.norm.weight", SafetensorsDType.BF16, [64])],
                   new Dictionary<string, string> { ["format"] = "pt" }))
        {
            w.WriteTensor("model.norm.weight", new byte[128]);
            w.Commit();
        }
        var bare = ModelInspection.Open(st);
        Assert.Equal(ModelFileFormat.Safetensors, bare.Format);
        Assert.Null(bare.Config);
        Assert.Contains("config.json", bare.ConfigNote);
        Assert.Contains(bare.Metadata, m => m.Key == "format" && m.Value == "pt");

        File.WriteAllText(dir.File("config.json"), """
            {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 96, "vocab_size": 32,
             "rms_norm_eps": 1e-6, "max_position_embeddings": 128}
            """);
        var s = ModelInspection.Open(dir.Path);
        Assert.Equal(new long[] { 64 }, s.Tensors.Single().Shape);
        Assert.Equal(96, s.Config!.FfnDim);
        Assert.Equal(1e-6, s.Config.NormEps);
    }

    [Fact]
    public void Unknown_files_and_missing_paths_are_bad_input()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("x.bin"), [1, 2]);
        Assert.Contains("not a model file", Assert.ThrowsAny<BadInputException>(() => ModelInspection.Open(dir.File("x.bin"))).Message);
        Assert.Contains("no such file", Assert.ThrowsAny<BadInputException>(() => ModelInspection.Open(dir.File("nope"))).Message);
        Assert.Contains("no model here", Assert.ThrowsAny<BadInputException>(() => ModelInspection.Open(dir.Path)).Message);
        File.WriteAllBytes(dir.File("bad.gguf"), "GGUF\u0002\0\0\0"u8.ToArray());
        Assert.ThrowsAny<BadInputException>(() => ModelInspection.Open(dir.File("bad.gguf")));
    }
}
