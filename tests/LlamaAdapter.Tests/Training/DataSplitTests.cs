using LlamaAdapter.Training.Pipeline;

namespace LlamaAdapter.Tests.Training;

public sealed class DataSplitTests
{
    [Fact]
    public void Reference_ValidatesOnTheFirst200_AndTrainsOnAll()
    {
        var s = DataSplit.Create(1000);
        Assert.Equal(Enumerable.Range(0, 200), s.Validation);
        Assert.Equal(Enumerable.Range(0, 1000), s.Train);
    }

    [Fact]
    public void MaxExamples_KeepsTheFirstN()
    {
        var s = DataSplit.Create(1000, maxExamples: 50);
        Assert.Equal(Enumerable.Range(0, 50), s.Validation);
        Assert.Equal(Enumerable.Range(0, 50), s.Train);
    }

    [Fact]
    public void TrainFraction_IsASeededSubsetInFileOrder()
    {
        var a = DataSplit.Create(1000, trainFraction: 0.1, seed: 7);
        var b = DataSplit.Create(1000, trainFraction: 0.1, seed: 7);
        var c = DataSplit.Create(1000, trainFraction: 0.1, seed: 8);
        Assert.Equal(100, a.Train.Length);
        Assert.Equal(a.Train, b.Train);
        Assert.NotEqual(a.Train, c.Train);
        Assert.Equal(a.Train.Order(), a.Train);
        Assert.Equal(100, a.Train.Distinct().Count());
        Assert.All(a.Train, i => Assert.InRange(i, 0, 999));
        Assert.Single(DataSplit.Create(1000, trainFraction: 0.0001).Train);
    }

    [Fact]
    public void BadArguments_AreRejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => DataSplit.Create(10, trainFraction: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => DataSplit.Create(10, trainFraction: 1.5));
        Assert.Throws<ArgumentOutOfRangeException>(() => DataSplit.Create(10, maxExamples: 0));
    }

    [Fact]
    public void EpochOrder_IsAPermutation_DeterminedBySeedPlusEpoch()
    {
        var e0 = SeededOrder.ForEpoch(50, seed: 3, epoch: 0);
        Assert.Equal(Enumerable.Range(0, 50), e0.Order());
        Assert.Equal(e0, SeededOrder.ForEpoch(50, seed: 3, epoch: 0));
        Assert.Equal(SeededOrder.ForEpoch(50, seed: 3, epoch: 1), SeededOrder.ForEpoch(50, seed: 4, epoch: 0));
        Assert.NotEqual(e0, SeededOrder.ForEpoch(50, seed: 3, epoch: 1));
    }
}
