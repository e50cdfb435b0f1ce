using LlamaAdapter.Evaluation.Tasks;

namespace LlamaAdapter.Tests.Evaluation;

/// <summary>Against CPython 3 (<c>random.Random(seed)</c>), values printed by python3 on this machine.</summary>
public class PythonRandomTests
{
    [Fact]
    public void Random_MatchesCPython() => Assert.Equal(0.9664535356921388, new PythonRandom(1234).NextDouble());

    [Fact]
    public void Sample_PoolBranch_MatchesCPython()
    {
        // n ≤ setsize (21 + 4^⌈log4(3k)⌉): the pool variant.
        Assert.Equal([99, 56, 14, 0, 11, 74, 4, 85, 88, 10, 12], new PythonRandom(1234).SampleIndices(100, 11));
        Assert.Equal([6, 3, 0], new PythonRandom(1234).SampleIndices(7, 3));
        Assert.Equal([2, 1, 3], new PythonRandom(7).SampleIndices(5, 3));
        var r = new PythonRandom(1234);
        Assert.Equal([7, 1, 0], r.SampleIndices(12, 3));
        Assert.Equal([1, 9, 0], r.SampleIndices(12, 3));
    }

    [Fact]
    public void Sample_SetBranch_SharedStream_MatchesCPython()
    {
        // HellaSwag's case: 11 of ~40k train docs, one stream across documents.
        var r = new PythonRandom(1234);
        Assert.Equal([28883, 7657, 490, 5940, 38156, 2288, 5500, 6450, 23241, 15519, 1142], r.SampleIndices(40000, 11));
        Assert.Equal([2019, 1038, 22681, 31735, 30379, 9735, 5982, 11999, 7498, 958, 32970], r.SampleIndices(40000, 11));
    }

    [Fact]
    public void Seed_WiderThan32Bits_UsesBothWords() =>
        Assert.Equal([516, 529, 275, 679], new PythonRandom((1UL << 40) + 5).SampleIndices(1000, 4));
}
