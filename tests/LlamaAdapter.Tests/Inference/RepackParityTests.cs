using System.Runtime.InteropServices;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Inference.Adapters;
using LlamaAdapter.Inference.Ggml;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Tests.Convert;
using LlamaAdapter.Tests.Model;
using LlamaAdapter.Training.Adapters;
using Xunit.Abstractions;

namespace LlamaAdapter.Tests.Inference;

/// <summary>
/// Weights in the CPU backend's extra buffer type (CPU_REPACK) as libllama places them: our logits against libllama's
/// on the same GGUF, with dims its interleaved kernels take (rows a multiple of 8, rows of 8 Q4_0 blocks / 1 Q4_K
/// super-block and more, so that the repacked and the plain dot products round differently). libllama decodes one
/// token at a time; ours both so and as one batched prefill (which runs the repacked GEMM for 4 rows at a time).
/// Where ggml's registry holds a GPU with a host buffer type (the Vulkan runtime with a visible device) libllama keeps
/// the weights plain, and by default so do we: the parity then holds with plain weights, and forcing the repack
/// (repack: true) is what must miss libllama. Measured on this machine's CPU backend (AVX-512): Q4_0, tied Q4_0,
/// Q4_K and IQ4_NL all 0.0 token by token; batched Q4_0/IQ4_NL 0.0, Q4_K 7e-7; the other placement misses by 4.4e-2
/// (Q4_0), 0.46 (tied Q4_0), 4.9e-2 (Q4_K), 4.8e-7 (IQ4_NL: its repacked and plain kernels round alike here).
/// </summary>
public sealed class RepackParityTests(ITestOutputHelper output) : IDisposable
{
    private readonly TinyCheckpoints.TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static TinyLlama Tiny(bool tied = false) =>
        new(TinyLlama.DefaultConfig(tied: tied) with { Dim = 256, NLayers = 2, NHeads = 4, NKvHeads = 2, FfnDim = 512, VocabSize = 128 }, seed: 13);

    private static readonly int[] Ids = [1, .. Enumerable.Range(0, 19).Select(i => (i * 37 + 5) % 125 + 3)];

    private string WriteModel(TinyLlama tiny, GgmlType type, string name = "m.gguf")
    {
        string path = _dir[name];
        TinyGguf.WriteModel(tiny, path, type, tokenizer: GgufTokenizerMetadata.FromSentencePiece(TinyCheckpoints.Tokenizer(tiny.Config.VocabSize)));
        return path;
    }

    private static float[] Steps(GgmlLlamaModel model, GgmlLoraAdapter? lora = null, GgmlPromptAdapter? adapter = null)
    {
        using var session = new LlamaSession(model, adapter, cacheType: GgmlType.F32, lora: lora);
        return Ids.SelectMany(id => session.Evaluate([id])).ToArray();
    }

    private static float[] Batch(GgmlLlamaModel model)
    {
        using var session = new LlamaSession(model, cacheType: GgmlType.F32);
        return session.Evaluate(Ids, allLogits: true);
    }

    private static double MaxAbs(float[][] theirs, float[] ours)
    {
        int vocab = theirs[0].Length;
        double m = 0;
        for (int t = 0; t < theirs.Length; t++)
            for (int v = 0; v < vocab; v++) m = Math.Max(m, Math.Abs(theirs[t][v] - ours[t * vocab + v]));
        return m;
    }

    private static double MaxAbs(float[] a, float[] b) => a.Zip(b, (x, y) => (double)Math.Abs(x - y)).Max();

    private static string BufferTypeOf(IntPtr tensor)
    {
        IntPtr buffer = GgmlApi.TensorBuffer(tensor);
        Assert.NotEqual(IntPtr.Zero, buffer);
        return Marshal.PtrToStringUTF8(GgmlApi.ggml_backend_buft_name(GgmlApi.ggml_backend_buffer_get_type(buffer))) ?? "";
    }

    /// <param name="plainDiffers">whether this file tells the layouts apart: the other placement must then miss libllama
    /// by more than 1e-4 (IQ4_NL's repacked and plain kernels round alike here, to 5e-7; Q8_0 is not repacked on x86).</param>
    [Theory]
    [InlineData("Q4_0", false, true)]
    [InlineData("Q4_0", true, true)]
    [InlineData("Q4_K", false, true)]
    [InlineData("IQ4_NL", false, false)]
    [InlineData("Q8_0", false, false)]
    public void Logits_MatchLibllama(string typeName, bool tied, bool plainDiffers)
    {
        var type = Enum.Parse<GgmlType>(typeName);
        string path = WriteModel(Tiny(tied), type);
        var theirs = LlamaCppLogits.Decode(path, Ids);
        var theirsBatched = LlamaCppLogits.Decode(path, Ids, batched: true);

        using var model = GgmlLlamaModel.Load(path, threads: 2);
        bool repacked = model.ExtraBufferWeights.Count > 0;
        using var other = GgmlLlamaModel.Load(path, threads: 2, repack: !repacked);
        double step = MaxAbs(theirs, Steps(model)), batch = MaxAbs(theirsBatched, Batch(model));
        double before = MaxAbs(theirs, Steps(other)), beforeBatch = MaxAbs(theirsBatched, Batch(other));
        var placed = model.ExtraBufferWeights;
        output.WriteLine($"{typeName}{(tied ? " tied" : "")}: {placed.Count} weights in extra buffers " +
                         $"({string.Join(", ", placed.GroupBy(p => p.BufferType).Select(g => $"{g.Key}: {g.Count()}"))}" +
                         $"{(placed.Any(p => p.Name is "output.weight" or "token_embd.weight") ? ", output included" : "")}); " +
                         $"max |ours − libllama| token by token {step:E3}, batched (both sides) {batch:E3}; " +
                         $"the other placement ({(repacked ? "all plain" : "repack forced")}): {before:E3}, batched {beforeBatch:E3}" +
                         (repacked ? "" : $" (a GPU host buffer type listed first: {CpuWeightBufferTypes.GpuHostBufferTypeFirst()})"));
        bool gpuHostFirst = CpuWeightBufferTypes.GpuHostBufferTypeFirst();
        if (gpuHostFirst) Assert.False(repacked, "libllama keeps the weights plain when a GPU host buffer type is listed first");
        else if (plainDiffers) Assert.True(repacked, $"{typeName} is repacked by this CPU backend, but ours kept it plain");
        Assert.True(step <= 1e-5, $"token by token {step:E3} > 1e-5");
        Assert.True(batch <= 1e-5, $"batched {batch:E3} > 1e-5");
        if (plainDiffers)
        {
            Assert.NotEmpty(repacked ? placed : other.ExtraBufferWeights);
            Assert.True(before > 1e-4, $"the other placement is still within {before:E3} of libllama: this file does not tell the layouts apart");
        }
    }

    /// <summary>Only matmul weights are repacked; the gathered token embeddings and the norms stay in the plain CPU buffer (read through struct ggml_tensor's buffer field, which also checks its offset).</summary>
    [Fact]
    public void OnlyMatMulWeights_GoToTheExtraBuffer()
    {
        foreach (bool tied in new[] { false, true })
        {
            using var model = GgmlLlamaModel.Load(WriteModel(Tiny(tied), GgmlType.Q4_0, $"q4_{tied}.gguf"), threads: 1, repack: true);
            Assert.Equal("CPU", BufferTypeOf(model.TokenEmbedding));
            Assert.Equal("CPU", BufferTypeOf(model.OutputNorm));
            Assert.Equal("CPU", BufferTypeOf(model.Layers[0].AttnNorm));
            var names = model.ExtraBufferWeights.Select(p => p.Name).ToHashSet();
            Assert.DoesNotContain("token_embd.weight", names.Where(_ => !tied));
            if (!model.ExtraBufferWeights.Any(p => p.BufferType == "CPU_REPACK"))
            {
                output.WriteLine("this CPU backend offers no CPU_REPACK for Q4_0: nothing to check");
                return;
            }
            Assert.Equal("CPU_REPACK", BufferTypeOf(model.Layers[0].Wq));
            Assert.Equal("CPU_REPACK", BufferTypeOf(model.Layers[1].FfnDown));
            Assert.Equal(2 * 7 + 1, model.ExtraBufferWeights.Count);
            // Tied: the output matmul reads a repacked duplicate, the gather the plain rows (libllama's TENSOR_DUPLICATED).
            Assert.NotEqual(model.TokenEmbedding, model.Output);
            Assert.Equal("CPU_REPACK", BufferTypeOf(model.Output));
        }
    }

    /// <summary>Where libllama repacks the base (see the class summary), its matmuls use the repacked weights and the LoRA's own stay plain (as ours).</summary>
    [Fact]
    public void Lora_OnARepackedBase_MatchesLibllama()
    {
        var tiny = Tiny();
        string path = WriteModel(tiny, GgmlType.Q4_0), loraPath = RandomLoraGguf.Write(tiny, _dir["lora.gguf"]);
        var theirs = LlamaCppLogits.Decode(path, Ids, lora: loraPath);
        using var model = GgmlLlamaModel.Load(path, threads: 2);
        using var lora = GgmlLoraAdapter.Load(loraPath, model);
        double diff = MaxAbs(theirs, Steps(model, lora)), effect = MaxAbs(theirs, Steps(model));
        output.WriteLine($"Q4_0 + LoRA ({model.ExtraBufferWeights.Count} weights repacked): max |ours − libllama| {diff:E3}; the LoRA moves the logits by {effect:F3}");
        Assert.True(diff <= 1e-5, $"{diff:E3} > 1e-5");
        Assert.True(effect > 0.1, $"the LoRA moved the logits by only {effect}");
    }

    /// <summary>No libllama reference for prompt adapters: repacked against plain base weights, the adapter's effect on top.</summary>
    [Theory]
    [InlineData(AdapterKind.Linear)]
    [InlineData(AdapterKind.Prefix)]
    public void PromptAdapter_OnARepackedBase_MatchesThePlainBase(AdapterKind kind)
    {
        var tiny = Tiny();
        var (_, adapterPath) = TinyGguf.WriteModelAndAdapter(tiny, _dir.Path, kind);
        string path = WriteModel(tiny, GgmlType.Q4_0);
        using var model = GgmlLlamaModel.Load(path, threads: 2, repack: true);
        using var plain = GgmlLlamaModel.Load(path, threads: 2, repack: false);
        using var a1 = GgmlPromptAdapter.Load(adapterPath!, model);
        using var a2 = GgmlPromptAdapter.Load(adapterPath!, plain);
        float[] ours = Steps(model, adapter: a1), reference = Steps(plain, adapter: a2);
        double diff = MaxAbs(ours, reference), baseDiff = MaxAbs(Steps(model), Steps(plain)), effect = MaxAbs(ours, Steps(model));
        output.WriteLine($"{kind}: repacked vs plain with the adapter {diff:E3} (without it {baseDiff:E3}); the adapter moves the logits by {effect:F3}");
        Assert.True(diff <= Math.Max(4 * baseDiff, 1e-5), $"{diff:E3} against {baseDiff:E3} without the adapter");
        Assert.True(effect > 1e-3, $"the adapter moved the logits by only {effect}");
    }
}
