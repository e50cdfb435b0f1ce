using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Training.Loading;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Loading;

/// <summary>Every refusal names the file and the file's own tensor or field, and leaves nothing loaded.</summary>
public class LoadingBadInputTests(LoadingFiles files) : IClassFixture<LoadingFiles>
{
    private static string Refusal(string path) =>
        Assert.IsAssignableFrom<BadInputException>(Record.Exception(() => PretrainedLlama.Load(path))).Message;

    private TinyLlamaWeights Without(params string[] names) =>
        files.Weights with { Data = files.Weights.Data.Where(kv => !names.Contains(kv.Key)).ToDictionary() };

    [Fact]
    public void Detect_ByContentNotName()
    {
        Assert.Equal(CheckpointFormat.Gguf, CheckpointFormats.Detect(files.GgufF32));
        Assert.Equal(CheckpointFormat.HuggingFace, CheckpointFormats.Detect(files.Hf));
        Assert.Equal(CheckpointFormat.Meta, CheckpointFormats.Detect(files.Meta));
        string renamed = files.P("model.bin");
        File.Copy(files.GgufF32, renamed, overwrite: true);
        Assert.Equal(CheckpointFormat.Gguf, CheckpointFormats.Detect(renamed));
    }

    [Fact]
    public void UnknownFormats_AreRefusedWithWhatWasExpected()
    {
        string text = files.P("notes.gguf");
        File.WriteAllText(text, "hello");
        Assert.Contains("not a GGUF file", Refusal(text));
        string empty = files.P("empty-dir");
        Directory.CreateDirectory(empty);
        Assert.Contains("no model here", Refusal(empty));
        Assert.Contains("no such file or directory", Refusal(files.P("absent")));

        string noConfig = files.P("no-config");
        Directory.CreateDirectory(noConfig);
        File.Copy(Path.Combine(files.Hf, "model.safetensors"), Path.Combine(noConfig, "model.safetensors"));
        Assert.Contains("without config.json", Refusal(noConfig));
        string noParams = files.P("no-params");
        Directory.CreateDirectory(noParams);
        File.Copy(Path.Combine(files.Meta, "consolidated.00.pth"), Path.Combine(noParams, "consolidated.00.pth"));
        Assert.Contains("without params.json", Refusal(noParams));
    }

    [Fact]
    public void MissingTensor_IsNamedInTheFilesSpelling()
    {
        string gguf = files.P("missing.gguf");
        TinyLlamaFactory.WriteGguf(Without("layers.1.feed_forward.w3.weight"), gguf);
        var m = Refusal(gguf);
        Assert.Contains(gguf, m);
        Assert.Contains("'blk.1.ffn_up.weight' is missing", m);
        Assert.Contains("ne [64, 96]", m);

        string hf = files.P("missing-hf");
        TinyLlamaFactory.WriteHuggingFace(Without("output.weight"), hf); // config.json says untied
        Assert.Contains("'lm_head.weight' is missing", Refusal(hf));

        string meta = files.P("missing-meta");
        LoadingFiles.WriteMeta(files.Weights, meta, skip: ["layers.0.attention.wk.weight"]);
        Assert.Contains("'layers.0.attention.wk.weight' is missing", Refusal(meta));
    }

    [Fact]
    public void WrongShape_NamesTensorFileShapeAndExpected()
    {
        // config.json claims 8 KV heads' worth of rows that the file's k_proj does not have.
        string hf = files.P("shape-hf");
        TinyLlamaFactory.WriteHuggingFace(files.Weights, hf);
        string cfg = Path.Combine(hf, "config.json");
        File.WriteAllText(cfg, File.ReadAllText(cfg).Replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 4"));
        var m = Refusal(hf);
        Assert.Contains("'model.layers.0.self_attn.k_proj.weight' has shape [32, 64], expected [64, 64]", m);

        // GGUF metadata with a larger vocabulary than token_embd has: reported in ne order, as the file stores it.
        var bigger = files.Weights with { Config = files.Weights.Config with { VocabSize = 98 } };
        string gguf = files.P("shape.gguf");
        TinyLlamaFactory.WriteGguf(bigger, gguf);
        Assert.Contains("'token_embd.weight' has shape ne [64, 97], expected ne [64, 98]", Refusal(gguf));
    }

    [Fact]
    public void ForeignAndSurplusTensors_AreRefusedByName()
    {
        string hf = files.P("foreign-hf");
        Directory.CreateDirectory(hf);
        File.Copy(Path.Combine(files.Hf, "config.json"), Path.Combine(hf, "config.json"));
        using (var st = SafetensorsModel.Open(files.Hf))
        {
            var decls = st.Tensors.Select(t => new SafetensorsTensorDecl(t.Name, t.DType, t.Shape))
                .Append(new SafetensorsTensorDecl("model.layers.0.self_attn.q_proj.bias", SafetensorsDType.F32, [64])).ToList();
            using var w = new SafetensorsWriter(Path.Combine(hf, "model.safetensors"), decls);
            foreach (var t in st.Tensors) w.WriteTensor(t.Name, st.GetBytes(t.Name));
            w.WriteTensor("model.layers.0.self_attn.q_proj.bias", new byte[256]);
            w.Commit();
        }
        Assert.Contains("'model.layers.0.self_attn.q_proj.bias' is not a LLaMA tensor", Refusal(hf));

        // A GGUF that claims 1 block but stores 2.
        var fewer = files.Weights with { Config = files.Weights.Config with { NLayers = 1 } };
        string gguf = files.P("surplus.gguf");
        TinyLlamaFactory.WriteGguf(fewer, gguf);
        Assert.Contains("'blk.1.attn_norm.weight' belongs to layer 1, but the configuration has 1 layers", Refusal(gguf));
    }

    [Fact]
    public void UnknownRopeFactors_AreRefused()
    {
        // Factors from a Llama-3 scaling that is not a published one (factor 3) cannot be turned back into parameters.
        var odd = TinyLlamaFactory.Create(TinyLlamaFactory.DefaultConfig() with { RopeScaling = new(RopeScalingType.Llama3, 3.0, 1.0, 4.0, 8192) }, seed: 2);
        string gguf = files.P("odd-rope.gguf");
        TinyLlamaFactory.WriteGguf(odd, gguf);
        Assert.Contains("'rope_freqs.weight' holds rope factors", Refusal(gguf));
    }

    [Fact]
    public void IntegerWeights_AreRefused()
    {
        string hf = files.P("int-hf");
        Directory.CreateDirectory(hf);
        File.Copy(Path.Combine(files.Hf, "config.json"), Path.Combine(hf, "config.json"));
        using (var st = SafetensorsModel.Open(files.Hf))
        {
            var decls = st.Tensors.Select(t => new SafetensorsTensorDecl(t.Name, t.Name == "model.norm.weight" ? SafetensorsDType.I32 : t.DType, t.Shape)).ToList();
            using var w = new SafetensorsWriter(Path.Combine(hf, "model.safetensors"), decls);
            foreach (var t in st.Tensors) w.WriteTensor(t.Name, st.GetBytes(t.Name));
            w.Commit();
        }
        Assert.Contains("'model.norm.weight' has dtype I32; expected F32, F16, BF16 or F64", Refusal(hf));
    }

    [Fact]
    public void Cancellation_StopsBetweenTensors()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.Throws<OperationCanceledException>(() => PretrainedLlama.Load(files.GgufF32, ScalarType.Float32, null, cts.Token));
    }
}
