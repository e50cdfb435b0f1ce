using TorchSharp;

namespace LlamaAdapter.Training.Pipeline;

/// <summary>
/// Which records train and which validate, as indices into the data file.
/// The reference validates on the first 200 records and trains on all of them, those 200 included
/// (finetuning.py:39-42); <c>--max-examples</c> keeps the first N records before anything else, and
/// <c>--train-fraction</c> trains on a seeded random subset (kept in file order) for the data-efficiency runs.
/// </summary>
public sealed record DataSplit(int[] Train, int[] Validation)
{
    public const int ReferenceValidationCount = 200;

    public static DataSplit Create(int recordCount, int? maxExamples = null, double trainFraction = 1.0,
                                   int validationCount = ReferenceValidationCount, long seed = 0)
    {
        if (recordCount <= 0) throw new ArgumentOutOfRangeException(nameof(recordCount), recordCount, "no records");
        if (maxExamples is <= 0) throw new ArgumentOutOfRangeException(nameof(maxExamples), maxExamples, "--max-examples must be positive");
        if (!(trainFraction > 0 && trainFraction <= 1)) throw new ArgumentOutOfRangeException(nameof(trainFraction), trainFraction, "--train-fraction must be in (0, 1]");
        if (validationCount < 0) throw new ArgumentOutOfRangeException(nameof(validationCount), validationCount, "validation count must be >= 0");

        int n = Math.Min(recordCount, maxExamples ?? recordCount);
        int[] validation = Enumerable.Range(0, Math.Min(validationCount, n)).ToArray();
        int[] train;
        if (trainFraction >= 1) train = Enumerable.Range(0, n).ToArray();
        else
        {
            int k = Math.Max(1, (int)Math.Round(trainFraction * n, MidpointRounding.AwayFromZero));
            train = SeededOrder.Permutation(n, seed).Take(k).Order().ToArray();
        }
        return new DataSplit(train, validation);
    }
}

/// <summary>
/// Seeded permutations from libtorch's CPU generator (mt19937), so an order depends only on (n, seed) and is the
/// one PyTorch gives for the same call.
/// </summary>
public static class SeededOrder
{
    public static int[] Permutation(int n, long seed)
    {
        using var g = new torch.Generator(unchecked((ulong)seed));
        using var p = torch.randperm(n, generator: g, dtype: torch.ScalarType.Int64);
        return p.data<long>().Select(v => (int)v).ToArray();
    }

    /// <summary>
    /// The epoch's visiting order of <paramref name="n"/> items: DistributedSampler(shuffle=True) on one process,
    /// i.e. randperm(n) from a generator seeded with seed + epoch (the reference calls set_epoch every epoch).
    /// </summary>
    public static int[] ForEpoch(int n, long seed, int epoch) => Permutation(n, seed + epoch);
}
