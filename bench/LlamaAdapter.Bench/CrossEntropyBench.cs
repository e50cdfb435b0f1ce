using BenchmarkDotNet.Attributes;
using LlamaAdapter.Training.Pipeline;
using static TorchSharp.torch;

namespace LlamaAdapter.Bench;

/// <summary>
/// The causal-LM loss and its backward to the hidden states through a frozen head: full float32 logits (the
/// baseline, CausalLmLoss) against ChunkedCrossEntropy. On the CPU both do the same matmuls; the point of chunking
/// is memory (MemoryDiagnoser does not see libtorch's allocations: compare peak RSS with the train-step bench).
/// In process: BenchmarkDotNet's generated child project does not carry libtorch's native package reference, and
/// TorchSharp refuses to start without it.
/// </summary>
[InProcess]
public class CrossEntropyBench
{
    private const int Dim = 256, Vocab = 8000;
    private Tensor _hidden = null!, _labels = null!, _head = null!;

    [Params(1024)] public int Positions;
    [Params(256L, 4096L)] public long Chunk;

    [GlobalSetup]
    public void Setup()
    {
        manual_seed(0);
        _hidden = randn(1, Positions, Dim).requires_grad_(true);                  // [1, T, dim]
        _labels = randint(1, Vocab, [1, Positions], dtype: ScalarType.Int64);
        _head = randn(Vocab, Dim) / MathF.Sqrt(Dim);                              // [V, dim], frozen
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _hidden.Dispose();
        _labels.Dispose();
        _head.Dispose();
    }

    private Tensor Head(Tensor h) => nn.functional.linear(h, _head);

    [Benchmark(Baseline = true)]
    public float Full()
    {
        using var scope = NewDisposeScope();
        _hidden.grad?.zero_();
        var loss = CausalLmLoss.Compute(Head(_hidden), _labels);
        loss.backward();
        return loss.item<float>();
    }

    [Benchmark]
    public float Chunked()
    {
        using var scope = NewDisposeScope();
        _hidden.grad?.zero_();
        var loss = ChunkedCrossEntropy.Compute(_hidden, _labels, Head, Chunk);
        loss.backward();
        return loss.item<float>();
    }
}
