using System.Runtime.InteropServices;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Adapters;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Tests.Model;
using LlamaAdapter.Training.Adapters;
using Xunit.Abstractions;

namespace LlamaAdapter.Tests.Inference;

/// <summary>
/// --gpu-layers: the engine with its last N blocks (and, past the block count, the output) on a GPU through ggml's
/// scheduler, against the CPU engine on the same file: prompt logits, decode steps, batched sequences and greedy
/// tokens, with and without a prompt adapter (linear, prefix) and a LoRA. Runs where ggml's registry offers a GPU device
/// (CUDA, or Vulkan: in CI Mesa's lavapipe, a software Vulkan device); skipped otherwise.
/// Measured on lavapipe (4 blocks, F16 KV cache, logits up to |4.4|): max |GPU − CPU| grows with the offloaded blocks,
/// 1.4e-3..2.1e-3 for 1 block, up to 1.25e-2 for all + output (1.42e-2 with tied embeddings). It is ggml-vulkan's F16 arithmetic: with
/// GGML_VK_DISABLE_F16=1 it drops to ≤ 3e-3, and with an F32 cache as well one offloaded block decodes within 1e-6.
/// </summary>
public sealed class GpuOffloadTests(ITestOutputHelper output) : IDisposable
{
    private const double Tolerance = 2e-2;
    private readonly string _dir = Directory.CreateTempSubdirectory("engine-gpu-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly TinyLlama Tiny = new(TinyLlama.DefaultConfig() with { NLayers = 4, ContextLength = 300 }, seed: 7);

    /// <summary>
    /// Each split (one block, half, all blocks, all + output) twice; each adapter kind with and without the LoRA.
    /// Eight cases rather than all 24: each Vulkan case costs about 2 s on lavapipe in CI.
    /// </summary>
    public static TheoryData<int, AdapterKind?, bool> Cases() => new()
    {
        { 1, null, false }, { 1, AdapterKind.Prefix, true },
        { 2, AdapterKind.Linear, false }, { 2, null, true },
        { 4, AdapterKind.Prefix, false }, { 4, AdapterKind.Linear, true },
        { 5, null, false }, { 5, AdapterKind.Prefix, true },
    };

    [GpuDeviceTheory]
    [MemberData(nameof(Cases))]
    public void Offloaded_EqualsCpu(int gpuLayers, AdapterKind? kind, bool withLora)
    {
        var (modelPath, adapterPath) = TinyGguf.WriteModelAndAdapter(Tiny, _dir, kind);
        string? loraPath = withLora ? RandomLoraGguf.Write(Tiny, Path.Combine(_dir, "lora.gguf")) : null;
        int vocab = Tiny.Config.VocabSize;
        var rng = new Random(gpuLayers);
        int[] prompt = [.. Enumerable.Range(0, 12).Select(_ => rng.Next(vocab))];
        int[][] sequences = [[.. prompt.Take(5)], [.. prompt.Skip(3)]];

        var cpu = Run(modelPath, adapterPath, loraPath, GpuOffload.None, prompt, sequences);
        var gpu = Run(modelPath, adapterPath, loraPath, new GpuOffload(gpuLayers), prompt, sequences);

        double promptDiff = EngineParityTests.MaxAbsDiff(cpu.PromptLogits, gpu.PromptLogits);
        double stepDiff = EngineParityTests.MaxAbsDiff(cpu.StepLogits, gpu.StepLogits);
        double seqDiff = EngineParityTests.MaxAbsDiff(cpu.SequenceLogits, gpu.SequenceLogits);
        output.WriteLine($"gpu-layers {gpuLayers}, adapter {kind?.ToString() ?? "none"}, lora {withLora} on {gpu.Device}: " +
                         $"max |GPU − CPU| prompt {promptDiff:E2}, decode {stepDiff:E2}, sequences {seqDiff:E2} (max |logit| {cpu.PromptLogits.Max(MathF.Abs):F2}); " +
                         $"decode graph splits {gpu.Splits}");
        Assert.True(gpu.Splits >= 2, $"the decode graph ran in {gpu.Splits} split(s): nothing was placed on the GPU");
        Assert.Equal(1, cpu.Splits);
        Assert.True(promptDiff <= Tolerance, $"prompt logits {promptDiff:E3} > {Tolerance}");
        Assert.True(stepDiff <= Tolerance, $"decode logits {stepDiff:E3} > {Tolerance}");
        Assert.True(seqDiff <= Tolerance, $"sequence logits {seqDiff:E3} > {Tolerance}");
        Assert.Equal(cpu.Greedy, gpu.Greedy);
    }

    /// <summary>Tied embeddings with the output offloaded: the output reads its own GPU copy of token_embd, the gather stays on the CPU.</summary>
    [GpuDeviceFact]
    public void TiedEmbeddings_WithTheOutputOffloaded_EqualCpu()
    {
        var tied = new TinyLlama(TinyLlama.DefaultConfig(tied: true) with { NLayers = 2 }, seed: 9);
        string modelPath = Path.Combine(_dir, "tied.gguf");
        TinyGguf.WriteModel(tied, modelPath);
        int[] prompt = [3, 14, 15, 92, 65, 35];
        var cpu = Run(modelPath, null, null, GpuOffload.None, prompt, [prompt]);
        var gpu = Run(modelPath, null, null, new GpuOffload(3), prompt, [prompt]);
        double diff = Math.Max(EngineParityTests.MaxAbsDiff(cpu.PromptLogits, gpu.PromptLogits), EngineParityTests.MaxAbsDiff(cpu.StepLogits, gpu.StepLogits));
        output.WriteLine($"tied, gpu-layers 3 of 2 blocks: max |GPU − CPU| {diff:E2}, splits {gpu.Splits}");
        Assert.True(gpu.Splits >= 2, $"{gpu.Splits} split(s)");
        Assert.True(diff <= Tolerance, $"{diff:E3} > {Tolerance}");
        Assert.Equal(cpu.Greedy, gpu.Greedy);
    }

    private sealed record Outcome(float[] PromptLogits, float[] StepLogits, float[] SequenceLogits, int[] Greedy, int Splits, string Device);

    /// <summary>Prompt logits (all positions), 20 greedy decode steps (their logits and tokens), then two batched sequences.</summary>
    private static Outcome Run(string modelPath, string? adapterPath, string? loraPath, GpuOffload offload, int[] prompt, int[][] sequences)
    {
        using var model = GgmlLlamaModel.Load(modelPath, threads: 1, offload);
        using var adapter = adapterPath is null ? null : GgmlPromptAdapter.Load(adapterPath, model);
        using var lora = loraPath is null ? null : GgmlLoraAdapter.Load(loraPath, model);
        using var session = new LlamaSession(model, adapter, contextSize: 64, lora: lora);
        int vocab = model.Config.VocabSize;
        float[] promptLogits = session.Evaluate(prompt, allLogits: true);
        var steps = new float[20 * vocab];
        var greedy = new int[20];
        int next = ArgMax(promptLogits.AsSpan((prompt.Length - 1) * vocab));
        for (int i = 0; i < 20; i++)
        {
            greedy[i] = next;
            session.Evaluate([next], steps.AsSpan(i * vocab, vocab));
            next = ArgMax(steps.AsSpan(i * vocab, vocab));
        }
        int splits = session.DecodeGraphSplits;
        float[] seq = [.. session.EvaluateSequences(sequences).SelectMany(s => s)];
        return new Outcome(promptLogits, steps, seq, greedy, splits, model.GpuDevice ?? "CPU");
    }

    private static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }

    /// <summary>A KV cache too large for the device is refused with the sizes, before ggml allocates anything for it.</summary>
    [GpuDeviceFact]
    public void KvCacheLargerThanTheGpu_IsAClearError()
    {
        string probePath = Path.Combine(_dir, "probe.gguf");
        TinyGguf.WriteModel(Tiny, probePath);
        long free;
        using (var probe = GgmlLlamaModel.Load(probePath, threads: 1, new GpuOffload(1))) free = probe.Placement.GpuFreeBytes();
        // 2 blocks × (K + V) × kvDim 32 × F16 = 256 bytes a position: twice the free memory's worth (lavapipe: 2 GiB).
        int positions = (int)Math.Min(int.MaxValue, free / 256 * 2);
        var big = new TinyLlama(TinyLlama.DefaultConfig() with { NLayers = 2, ContextLength = positions }, seed: 1);
        string modelPath = Path.Combine(_dir, "long.gguf");
        TinyGguf.WriteModel(big, modelPath);
        using var model = GgmlLlamaModel.Load(modelPath, threads: 1, new GpuOffload(2));
        var e = Assert.Throws<BadInputException>(() => new LlamaSession(model));
        output.WriteLine(e.Message);
        Assert.Contains("--gpu-layers 2", e.Message);
        Assert.Contains("KV cache", e.Message);
        Assert.Contains(model.GpuDevice!, e.Message);
        Assert.Contains("free", e.Message);
    }

    // --- option checks that need no GPU ---

    [Fact]
    public void NegativeGpuLayers_IsRefusedBeforeLoading()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => GgmlLlamaModel.Load(Path.Combine(_dir, "never-read.gguf"), threads: 1, new GpuOffload(-1)));
        Assert.Contains("--gpu-layers", e.Message);
    }

    [Fact]
    public void UnknownGpuName_ListsTheDevicesAndTheRuntimeFolder()
    {
        string modelPath = Path.Combine(_dir, "tiny.gguf");
        TinyGguf.WriteModel(Tiny, modelPath);
        var e = Assert.Throws<BadInputException>(() => GgmlLlamaModel.Load(modelPath, threads: 1, new GpuOffload(2, "NoSuchGpu7")));
        output.WriteLine(e.Message);
        Assert.Contains("--gpu NoSuchGpu7", e.Message);
        Assert.Contains("CPU", e.Message);                                  // the CPU device is always listed
        Assert.Contains(GgmlLibrary.EnvironmentVariable, e.Message);
    }

    [Fact]
    public void NamingTheCpuAsTheGpu_IsRefused()
    {
        string modelPath = Path.Combine(_dir, "tiny.gguf");
        TinyGguf.WriteModel(Tiny, modelPath);
        var e = Assert.Throws<BadInputException>(() => GgmlLlamaModel.Load(modelPath, threads: 1, new GpuOffload(1, "CPU")));
        Assert.Contains("that is the CPU device", e.Message);
    }

    [NoGpuDeviceFact]
    public void GpuLayersWithoutAGpu_NamesTheDevicesFoundAndTheRuntimeFolder()
    {
        string modelPath = Path.Combine(_dir, "tiny.gguf");
        TinyGguf.WriteModel(Tiny, modelPath);
        var e = Assert.Throws<BadInputException>(() => GgmlLlamaModel.Load(modelPath, threads: 1, new GpuOffload(2)));
        output.WriteLine(e.Message);
        Assert.Contains("--gpu-layers 2", e.Message);
        Assert.Contains("no GPU device", e.Message);
        Assert.Contains(GgmlLibrary.EnvironmentVariable, e.Message);
        Assert.Contains("libggml-cuda.so", e.Message);
    }

    [Fact]
    public void ZeroGpuLayers_IsTheCpuEngine()
    {
        string modelPath = Path.Combine(_dir, "tiny.gguf");
        TinyGguf.WriteModel(Tiny, modelPath);
        using var model = GgmlLlamaModel.Load(modelPath, threads: 1, GpuOffload.None);
        Assert.Null(model.GpuDevice);
        Assert.Equal(0, model.GpuLayers);
        using var session = new LlamaSession(model, contextSize: 8);
        session.Evaluate([1, 2]);
        session.Evaluate([3]);
        Assert.Equal(1, session.DecodeGraphSplits);
    }
}

/// <summary>Whether ggml's registry (the runtime folder's backends) offers a GPU-type device.</summary>
internal static class GpuDevices
{
    public static readonly Lazy<string?> First = new(() =>
    {
        try
        {
            return GgmlLibrary.Devices().FirstOrDefault(d => d.Type is GgmlDeviceType.Gpu or GgmlDeviceType.IntegratedGpu)?.Name;
        }
        catch (Exception e) when (e is DllNotFoundException or GgmlException) { return null; }
    });

    public static string SkipReason =>
        $"no GPU device in ggml's registry (runtime folder {GgmlLibrary.Directory}: add libggml-cuda.so or libggml-vulkan.so; " +
        "for Mesa's lavapipe set GGML_VK_VISIBLE_DEVICES=0, since ggml skips CPU-type Vulkan devices by default)";
}

public sealed class GpuDeviceFactAttribute : FactAttribute
{
    public GpuDeviceFactAttribute() { if (GpuDevices.First.Value is null) Skip = GpuDevices.SkipReason; }
}

public sealed class GpuDeviceTheoryAttribute : TheoryAttribute
{
    public GpuDeviceTheoryAttribute() { if (GpuDevices.First.Value is null) Skip = GpuDevices.SkipReason; }
}

public sealed class NoGpuDeviceFactAttribute : FactAttribute
{
    public NoGpuDeviceFactAttribute() { if (GpuDevices.First.Value is not null) Skip = $"a GPU device ({GpuDevices.First.Value}) is present: the no-GPU error cannot occur"; }
}
