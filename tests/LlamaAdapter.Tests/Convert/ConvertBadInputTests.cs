using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using LlamaAdapter.Convert;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Tests.Model;
using static LlamaAdapter.Tests.Convert.TinyCheckpoints;

namespace LlamaAdapter.Tests.Convert;

/// <summary>Every refusal names the file and what was expected, and leaves no output (nor temp file) behind.</summary>
public class ConvertBadInputTests
{
    private static readonly TinyLlama Tiny = new(TinyLlama.DefaultConfig(), seed: 4);
    private static ConvertOptions Q8 => new(OutputType.Q8_0, Tokenizer: Tokenizer(97), ChunkElements: 1000);

    private static BadInputException Fails(TempDir tmp, string input, ConvertOptions? o = null)
    {
        string outDir = tmp["out"];
        Directory.CreateDirectory(outDir);
        var e = Assert.ThrowsAny<BadInputException>(() => ModelConverter.Convert(input, Path.Combine(outDir, "m.gguf"), o ?? Q8));
        Assert.Empty(Directory.GetFileSystemEntries(outDir));
        return e;
    }

    private static void EditConfig(string dir, Action<JsonObject> edit)
    {
        string p = Path.Combine(dir, "config.json");
        var o = JsonNode.Parse(File.ReadAllText(p))!.AsObject();
        edit(o);
        File.WriteAllText(p, o.ToJsonString());
    }

    [Fact]
    public void MissingShard()
    {
        using var tmp = new TempDir();
        WriteHf(tmp["hf"], Tiny, shards: 3);
        File.Delete(Path.Combine(tmp["hf"], "model-00002-of-00003.safetensors"));
        var e = Fails(tmp, tmp["hf"]);
        Assert.Contains("model-00002-of-00003.safetensors", e.Message);
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void WrongTensorShape()
    {
        using var tmp = new TempDir();
        WriteHf(tmp["hf"], Tiny);
        EditConfig(tmp["hf"], o => o["intermediate_size"] = 128);
        var e = Fails(tmp, tmp["hf"]);
        Assert.Contains("model.layers.0.mlp.gate_proj.weight", e.Message);
        Assert.Contains("[96, 64]", e.Message);
        Assert.Contains("[128, 64]", e.Message);
    }

    [Fact]
    public void UnsupportedArchitecture()
    {
        using var tmp = new TempDir();
        WriteHf(tmp["hf"], Tiny, modelType: "mistral");
        EditConfig(tmp["hf"], o => o["architectures"] = new JsonArray("MistralForCausalLM"));
        var e = Fails(tmp, tmp["hf"]);
        Assert.Contains("config.json", e.Message);
        Assert.Contains("model_type", e.Message);
        Assert.Contains("\"llama\"", e.Message);
    }

    [Fact]
    public void NotACheckpointDirectory()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp["empty"]);
        var e = Fails(tmp, tmp["empty"]);
        Assert.Contains("config.json", e.Message);
        Assert.Contains("params.json", e.Message);
    }

    [Fact]
    public void MissingAndExtraTensors()
    {
        using var tmp = new TempDir();
        var c = Tiny.Config;
        var fewer = Tiny.With(c, (_, v) => v);
        fewer.Data.Remove("layers.1.ffn_norm.weight");
        WriteHf(tmp["a"], fewer);
        var e = Fails(tmp, tmp["a"]);
        Assert.Contains("'model.layers.1.post_attention_layernorm.weight' is missing", e.Message);

        WriteHf(tmp["b"], Tiny);
        EditConfig(tmp["b"], o => o["num_hidden_layers"] = 2);
        e = Fails(tmp, tmp["b"]);
        Assert.Contains("layer 2", e.Message);
    }

    [Fact]
    public void MissingTokenizer_SaysHowToPassOne()
    {
        using var tmp = new TempDir();
        WriteHf(tmp["hf"], Tiny);
        var e = Fails(tmp, tmp["hf"], new ConvertOptions(OutputType.F16));
        Assert.Contains("tokenizer.model", e.Message);
        Assert.Contains("--tokenizer", e.Message);
        e = Fails(tmp, tmp["hf"], new ConvertOptions(OutputType.F16, Tokenizer: Tokenizer(98)));
        Assert.Contains("98 pieces", e.Message);
    }

    [Fact]
    public void NonFiniteWeight_NamesTensorRowAndColumn()
    {
        using var tmp = new TempDir();
        var bad = Tiny.With(Tiny.Config, (n, v) => n == "layers.2.feed_forward.w2.weight" ? v.Select((x, i) => i == 5 * 96 + 7 ? float.NaN : x).ToArray() : v);
        WriteHf(tmp["hf"], bad);
        var e = Fails(tmp, tmp["hf"]);
        Assert.Contains("model.layers.2.mlp.down_proj.weight", e.Message);
        Assert.Contains("row 5, column 7", e.Message);
    }

    [Fact]
    public void Cancellation_LeavesNoFile()
    {
        using var tmp = new TempDir();
        WriteHf(tmp["hf"], Tiny);
        Directory.CreateDirectory(tmp["out"]);
        using var cts = new CancellationTokenSource();
        int seen = 0;
        var o = Q8 with { Log = _ => { if (++seen == 5) cts.Cancel(); } };
        Assert.ThrowsAny<OperationCanceledException>(() => ModelConverter.Convert(tmp["hf"], Path.Combine(tmp["out"], "m.gguf"), o, cts.Token));
        Assert.Empty(Directory.GetFileSystemEntries(tmp["out"]));
    }

    [Fact]
    public void OutputDirectoryMissing()
    {
        using var tmp = new TempDir();
        WriteHf(tmp["hf"], Tiny);
        var e = Assert.ThrowsAny<BadInputException>(() => ModelConverter.Convert(tmp["hf"], Path.Combine(tmp["nowhere"], "m.gguf"), Q8));
        Assert.Contains("nowhere", e.Message);
    }

    /// <summary>A 128 KiB tmpfs fills up part-way through the (≈ 400 KiB) F32 model.</summary>
    [FullDiskFact]
    public void FullDisk_ClearErrorAndTempRemoved()
    {
        using var tmp = new TempDir();
        WriteHf(tmp["hf"], Tiny);
        string mnt = tmp["small"];
        Directory.CreateDirectory(mnt);
        Assert.Equal(0, FullDiskFactAttribute.Run("mount", $"-t tmpfs -o size=128k tmpfs {mnt}"));
        try
        {
            var e = Assert.ThrowsAny<BadInputException>(() =>
                ModelConverter.Convert(tmp["hf"], Path.Combine(mnt, "m.gguf"), new ConvertOptions(OutputType.F32, Tokenizer: Tokenizer(97))));
            Assert.Contains("m.gguf", e.Message);
            Assert.Contains("no output was written", e.Message);
            Assert.IsAssignableFrom<IOException>(e.InnerException);
            Assert.Empty(Directory.GetFileSystemEntries(mnt));
        }
        finally { FullDiskFactAttribute.Run("umount", mnt); }
    }
}

/// <summary>Runs only where a small tmpfs can be mounted (root in a container that allows it); skipped elsewhere.</summary>
public sealed class FullDiskFactAttribute : FactAttribute
{
    private static readonly Lazy<bool> CanMount = new(() =>
    {
        string d = Path.Combine(Path.GetTempPath(), "conv-mnt-probe-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(d);
        try { return Run("mount", $"-t tmpfs -o size=64k tmpfs {d}") == 0 && Run("umount", d) == 0; }
        finally { try { Directory.Delete(d); } catch (IOException) { } }
    });

    public FullDiskFactAttribute()
    {
        if (!CanMount.Value) Skip = "cannot mount a small tmpfs here (needs root / CAP_SYS_ADMIN) to fill a disk";
    }

    public static int Run(string file, string args)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            p.WaitForExit();
            return p.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception) { return -1; }
    }
}
