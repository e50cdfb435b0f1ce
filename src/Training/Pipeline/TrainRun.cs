using LlamaAdapter.Core;
using LlamaAdapter.Core.Data;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Training.Checkpoints;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Pipeline;

/// <summary>What <c>llama-adapter train</c> was asked for, apart from the model and the adapter.</summary>
public sealed record TrainRunSettings(
    string DataPath,
    string OutDir,
    TrainerOptions Trainer,
    int MaxSeqLen = 512,
    int? MaxExamples = null,
    double TrainFraction = 1.0,
    int ValidationCount = DataSplit.ReferenceValidationCount,
    string? Resume = null,
    bool SkipBad = false);

/// <summary>
/// One fine-tuning run from a data file: read the Alpaca records, split, encode, train the model's requires_grad
/// parameters, resuming from a checkpoint when asked. The model and tokenizer come from the caller.
/// </summary>
public static class TrainRun
{
    public static Task<(Trainer Trainer, string? ResumedFrom)> PrepareAsync(
        TrainRunSettings s, nn.Module<Tensor, Tensor> model, ITokenizer tokenizer, IReadOnlyDictionary<string, string> adapter,
        Func<IReadOnlyDictionary<int, float[]>>? gateReader = null, CancellationToken ct = default) =>
        PrepareAsync(s, ReplicaSet.Single(model), tokenizer, adapter, gateReader, ct);

    /// <summary>As for one model, training the master of <paramref name="replicas"/> data-parallel over their devices.</summary>
    public static async Task<(Trainer Trainer, string? ResumedFrom)> PrepareAsync(
        TrainRunSettings s, ReplicaSet replicas, ITokenizer tokenizer, IReadOnlyDictionary<string, string> adapter,
        Func<IReadOnlyDictionary<int, float[]>>? gateReader = null, CancellationToken ct = default)
    {
        s.Trainer.Validate();
        if (s.MaxSeqLen < 2) throw new ArgumentException($"--max-seq-len {s.MaxSeqLen}: expected at least 2");
        var dataset = await AlpacaDataReader.LoadAsync(s.DataPath, s.SkipBad, ct);
        var split = DataSplit.Create(dataset.Examples.Count, s.MaxExamples, s.TrainFraction, s.ValidationCount, s.Trainer.Seed);
        var data = TrainingData.FromAlpaca(dataset.Examples, new AlpacaEncoder(tokenizer, s.MaxSeqLen), split);
        var trainer = new Trainer(replicas, data, s.Trainer, adapter, gateReader) { SkippedRecords = dataset.Skipped };
        try
        {
            string? from = null;
            if (s.Resume is { } r)
            {
                from = CheckpointDirectory.Resolve(r);
                var checkpoint = TrainingCheckpoint.Load(from);
                SameAdapter(checkpoint.Adapter, adapter, from);
                trainer.Restore(checkpoint, from);
            }
            else if (CheckpointDirectory.List(s.OutDir).Count > 0)
                throw new BadInputException($"{s.OutDir}: already holds checkpoints; pass --resume {s.OutDir} to continue that run, or choose another --out");
            // Dropout (LoRA) draws from torch's global RNG: seed it as the reference does (torch.manual_seed), so a
            // run is reproducible from --seed; a resumed run takes the checkpoint's RNG state instead (Restore).
            else random.manual_seed(s.Trainer.Seed);
            return (trainer, from);
        }
        catch
        {
            trainer.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The adapter's description (kind, LoRA alpha/dropout, targets, …) must match: names and shapes alone would let a
    /// run with another alpha or dropout continue silently from the checkpoint's tensors.
    /// </summary>
    private static void SameAdapter(IReadOnlyDictionary<string, string> theirs, IReadOnlyDictionary<string, string> ours, string file)
    {
        foreach (var key in theirs.Keys.Union(ours.Keys).Order(StringComparer.Ordinal))
        {
            string? a = theirs.GetValueOrDefault(key), b = ours.GetValueOrDefault(key);
            if (a != b)
                throw new BadInputException($"{file}: adapter field '{key}' differs: checkpoint '{a ?? "(absent)"}', this run '{b ?? "(absent)"}'; resume needs the same");
        }
    }
}
