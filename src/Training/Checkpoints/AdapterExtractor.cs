using System.Globalization;

namespace LlamaAdapter.Training.Checkpoints;

/// <summary>
/// The reference's extract_adapter_from_checkpoint.py: from a training checkpoint keep only the adapter weights,
/// unchanged (gates raw, before tanh), here with the adapter's configuration and the base model's fingerprint in
/// the safetensors __metadata__ so a loader can rebuild the adapter and refuse the wrong base model.
/// </summary>
public static class AdapterExtractor
{
    public const string FormatName = "llama-adapter/adapter-1";

    /// <summary>Metadata keys: <c>adapter.*</c> (the training run's adapter configuration), <c>base_model.fingerprint</c>, <c>training.*</c>.</summary>
    public static IReadOnlyDictionary<string, string> Metadata(TrainingCheckpoint c)
    {
        var meta = new Dictionary<string, string>(StringComparer.Ordinal) { ["format"] = FormatName };
        foreach (var (k, v) in c.Adapter) meta["adapter." + k] = v;
        meta["base_model.fingerprint"] = c.BaseModelFingerprint;
        meta["training.steps"] = c.Step.ToString(CultureInfo.InvariantCulture);
        meta["training.epochs_done"] = c.Epoch.ToString(CultureInfo.InvariantCulture);
        meta["training.hyperparameters"] = c.Hyperparameters;
        meta["training.data_fingerprint"] = c.DataFingerprint;
        return meta;
    }

    /// <summary>Writes <paramref name="outPath"/> atomically; returns the tensors written, in name order.</summary>
    public static IReadOnlyList<StoredTensor> Extract(string checkpointPath, string outPath)
    {
        var c = TrainingCheckpoint.Load(checkpointPath);
        var tensors = c.Parameters.Values.OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        TensorFile.Write(outPath, tensors, Metadata(c));
        return tensors;
    }
}
