using LlamaAdapter.Convert;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Tests.Model;
using Xunit.Abstractions;
using static LlamaAdapter.Tests.Convert.TinyCheckpoints;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Convert;

/// <summary>
/// The acceptance of the converter: a tiny random HF model → our GGUF → llama.cpp (libllama, full model, CPU) decodes
/// it, and its logits agree with our TorchSharp LlamaModel on the original float32 weights.
/// </summary>
public class LlamaCppLogitParityTests(ITestOutputHelper output)
{
    private static readonly TinyLlama Tiny = new(TinyLlama.DefaultConfig(), seed: 11);

    private static int[] Ids()
    {
        var rng = new Random(5);
        return [1, .. Enumerable.Range(0, 23).Select(_ => rng.Next(97))];
    }

    private static float[][] Ours(int[] ids)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var logits = Tiny.Build().forward(tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length], ScalarType.Int64));
        var flat = logits.to(ScalarType.Float32).data<float>().ToArray();
        return Enumerable.Range(0, ids.Length).Select(t => flat.AsSpan(t * 97, 97).ToArray()).ToArray();
    }

    private (double MaxAbs, double Top1) Compare(string type)
    {
        using var tmp = new TempDir();
        WriteHf(tmp["hf"], Tiny);
        ModelConverter.Convert(tmp["hf"], tmp["m.gguf"], new ConvertOptions(OutputType.Parse(type), Tokenizer: Tokenizer(97)));
        var ids = Ids();
        var theirs = LlamaCppLogits.Decode(tmp["m.gguf"], ids);
        var ours = Ours(ids);
        double maxAbs = 0, scale = 0;
        int agree = 0;
        for (int t = 0; t < ids.Length; t++)
        {
            for (int v = 0; v < 97; v++)
            {
                maxAbs = Math.Max(maxAbs, Math.Abs(theirs[t][v] - ours[t][v]));
                scale = Math.Max(scale, Math.Abs(ours[t][v]));
            }
            if (Array.IndexOf(theirs[t], theirs[t].Max()) == Array.IndexOf(ours[t], ours[t].Max())) agree++;
        }
        double top1 = (double)agree / ids.Length;
        output.WriteLine($"{type}: max |llama.cpp - ours| = {maxAbs:E3} over {ids.Length} positions x 97 logits (max |logit| {scale:F2}); top-1 agreement {agree}/{ids.Length}");
        return (maxAbs, top1);
    }

    [Fact]
    public void ContextDefaults_MatchThePinnedBinary()
    {
        GgmlLibrary.LoadBackends();
        var p = Core.Native.LlamaApi.DefaultContextParams();
        Assert.Equal(512u, p.NCtx);
        Assert.Equal(GgmlType.F16, p.TypeK);
        Assert.Equal(-1, p.FlashAttnType);
    }

    [Fact]
    public void F32_LogitsWithin1e3()
    {
        var (maxAbs, top1) = Compare("F32");
        Assert.True(maxAbs <= 1e-3, $"F32 max abs {maxAbs}");
        Assert.Equal(1.0, top1);
    }

    [Fact]
    public void F16_LogitsWithin2e2()
    {
        var (maxAbs, _) = Compare("F16");
        Assert.True(maxAbs <= 2e-2, $"F16 max abs {maxAbs}");
    }

    [Fact]
    public void Q8_0_SameTop1OnAtLeast95Percent()
    {
        var (_, top1) = Compare("Q8_0");
        Assert.True(top1 >= 0.95, $"Q8_0 top-1 agreement {top1}");
    }
}
