using LlamaAdapter.Convert;
using LlamaAdapter.Tests.Model;
using LlamaAdapter.Training.Checkpoints;
using PretrainedLlama = LlamaAdapter.Training.Loading.PretrainedLlama;
using LlamaAdapter.Training.Model;
using LlamaAdapter.Training.Peft;
using TorchSharp;
using static LlamaAdapter.Tests.Convert.TinyCheckpoints;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Convert;

/// <summary>
/// A tiny base on disk (HF directory and the F32 GGUF our converter makes of it) and LoRAs trained on either: the
/// TorchSharp model loaded from that file (so it has that format's rotary layout), LoRA attached on every projection,
/// A and B both random and nonzero, written through a training checkpoint and <c>extract</c> as a run would.
/// </summary>
internal sealed class LoraFixtures : IDisposable
{
    public static readonly TinyLlama Tiny = new(TinyLlama.DefaultConfig(), seed: 21);
    public static readonly LoraConfig AllTargets = new(Rank: 4, Alpha: 6, Dropout: 0, Targets: Projections.All);

    public TempDir Dir { get; } = new();
    public string HfDir => Dir["hf"];
    public string BaseGguf => Dir["base.gguf"];

    public LoraFixtures(TinyLlama? tiny = null)
    {
        WriteHf(HfDir, tiny ?? Tiny);
        ModelConverter.Convert(HfDir, BaseGguf, new ConvertOptions(OutputType.F32, Tokenizer: Tokenizer(97)));
    }

    /// <summary>The model trained on <paramref name="basePath"/> (GGUF → interleaved, HF → half-split) with a random LoRA.</summary>
    public static LlamaModel WithRandomLora(string basePath, LoraConfig config, ulong seed)
    {
        var m = PretrainedLlama.Load(basePath);
        using var g = new Generator(seed);
        m.AttachLora(config, g);
        using (no_grad())
            foreach (var (name, p) in m.named_parameters().Where(p => p.name.EndsWith(".lora_b", StringComparison.Ordinal)))
                p.copy_(randn(p.shape, p.dtype, generator: g) * 0.2);   // B = 0 would hide any mistake in B's layout
        m.eval();
        return m;
    }

    /// <summary>A training checkpoint of <paramref name="m"/>'s trainables (what <c>train</c> saves), then its <c>extract</c>.</summary>
    public static string Extract(LlamaModel m, IReadOnlyDictionary<string, string> description, string dir, string name)
    {
        var checkpoint = new TrainingCheckpoint
        {
            Step = 1, Epoch = 1, BatchInEpoch = 0, EpochOrder = [0], Train = [0], Validation = [0], TorchRngState = [0],
            Hyperparameters = "test", DataFingerprint = "test", BaseModelFingerprint = BaseModelFingerprint.Compute(m),
            Adapter = description,
            Parameters = m.TrainableParameters().ToDictionary(p => p.Name,
                p => LlamaAdapter.Training.Checkpoints.StoredTensor.Of(p.Name, p.Parameter.detach().contiguous().data<float>().ToArray(), p.Parameter.shape)),
            Optimizer = new Dictionary<string, AdamWSlot>(),
        };
        string ckpt = Path.Combine(dir, name + ".checkpoint.safetensors");
        checkpoint.Save(ckpt);
        string path = Path.Combine(dir, name + ".safetensors");
        AdapterExtractor.Extract(ckpt, path);
        return path;
    }

    /// <summary>Logits [T][vocab] of the ids, as one sequence.</summary>
    public static float[][] Logits(LlamaModel m, int[] ids)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var logits = m.forward(tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length], ScalarType.Int64));
        int vocab = m.Config.VocabSize;
        var flat = logits.to(ScalarType.Float32).data<float>().ToArray();
        return Enumerable.Range(0, ids.Length).Select(t => flat.AsSpan(t * vocab, vocab).ToArray()).ToArray();
    }

    public static int[] Ids(int n = 20, int seed = 5)
    {
        var rng = new Random(seed);
        return [1, .. Enumerable.Range(0, n - 1).Select(_ => rng.Next(97))];
    }

    public static double MaxAbs(float[][] a, float[][] b)
    {
        double m = 0;
        for (int t = 0; t < a.Length; t++)
            for (int v = 0; v < a[t].Length; v++) m = Math.Max(m, Math.Abs(a[t][v] - b[t][v]));
        return m;
    }

    public static float[][] Rows(float[] flat, int vocab) =>
        Enumerable.Range(0, flat.Length / vocab).Select(t => flat.AsSpan(t * vocab, vocab).ToArray()).ToArray();

    public void Dispose() => Dir.Dispose();
}
