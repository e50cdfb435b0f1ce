using System.Globalization;
using System.Text.Json;
using LlamaAdapter.Core;

namespace LlamaAdapter.Training.Checkpoints;

/// <summary>AdamW's per-parameter state: its own step count and the two moment estimates.</summary>
public sealed record AdamWSlot(long Step, StoredTensor ExpAvg, StoredTensor ExpAvgSq);

/// <summary>
/// Everything a run needs to continue bit for bit: the trainable parameters, AdamW's state per parameter, where the
/// schedule and the data stand (epoch, micro-batches of it done, the epoch's order), the torch generator's state,
/// the data split, and what must not change across a resume (hyperparameters, data, base model). The frozen base
/// model is not stored; its fingerprint is. One file, written atomically by <see cref="TensorFile"/>.
/// </summary>
public sealed record TrainingCheckpoint
{
    public const string FormatName = "llama-adapter-checkpoint/1";

    /// <summary>Optimizer steps done.</summary>
    public required long Step { get; init; }
    /// <summary>The epoch being trained (== epochs once training is over).</summary>
    public required int Epoch { get; init; }
    /// <summary>Micro-batches of <see cref="Epoch"/> already consumed (always at an optimizer-step boundary).</summary>
    public required int BatchInEpoch { get; init; }
    /// <summary>The visiting order of the training examples in <see cref="Epoch"/> (positions into <see cref="Train"/>).</summary>
    public required int[] EpochOrder { get; init; }
    public required int[] Train { get; init; }
    public required int[] Validation { get; init; }
    public required byte[] TorchRngState { get; init; }
    /// <summary>Hyperparameters that shape the trajectory, as <see cref="Pipeline.TrainerOptions.TrajectoryKey"/>.</summary>
    public required string Hyperparameters { get; init; }
    public required string DataFingerprint { get; init; }
    public required string BaseModelFingerprint { get; init; }
    /// <summary>The adapter's configuration (kind, prompt length, layers, gate, MLP shape...), carried into the extracted file.</summary>
    public required IReadOnlyDictionary<string, string> Adapter { get; init; }
    /// <summary>Trainable parameters by module name, as F32.</summary>
    public required IReadOnlyDictionary<string, StoredTensor> Parameters { get; init; }
    public required IReadOnlyDictionary<string, AdamWSlot> Optimizer { get; init; }

    private const string ParamPrefix = "param/", OptimPrefix = "optim/", AdapterPrefix = "adapter.";

    public void Save(string path)
    {
        var tensors = new List<StoredTensor>();
        var meta = new Dictionary<string, string>
        {
            ["format"] = FormatName,
            ["step"] = Step.ToString(CultureInfo.InvariantCulture),
            ["epoch"] = Epoch.ToString(CultureInfo.InvariantCulture),
            ["batch_in_epoch"] = BatchInEpoch.ToString(CultureInfo.InvariantCulture),
            ["hyperparameters"] = Hyperparameters,
            ["data_fingerprint"] = DataFingerprint,
            ["base_model_fingerprint"] = BaseModelFingerprint,
        };
        foreach (var (k, v) in Adapter) meta[AdapterPrefix + k] = v;
        foreach (var (name, t) in Parameters) tensors.Add(t with { Name = ParamPrefix + name });
        var optimSteps = new Dictionary<string, long>();
        foreach (var (name, slot) in Optimizer)
        {
            tensors.Add(slot.ExpAvg with { Name = $"{OptimPrefix}{name}/exp_avg" });
            tensors.Add(slot.ExpAvgSq with { Name = $"{OptimPrefix}{name}/exp_avg_sq" });
            optimSteps[name] = slot.Step;
        }
        meta["optimizer_steps"] = JsonSerializer.Serialize(optimSteps);
        tensors.Add(StoredTensor.Of("data/epoch_order", EpochOrder));
        tensors.Add(StoredTensor.Of("data/train", Train));
        tensors.Add(StoredTensor.Of("data/validation", Validation));
        tensors.Add(StoredTensor.Of("rng/torch", TorchRngState));
        TensorFile.Write(path, tensors, meta);
    }

    public static TrainingCheckpoint Load(string path)
    {
        var (tensors, meta) = TensorFile.Read(path);
        string Meta(string key) => meta.TryGetValue(key, out var v) ? v : throw new BadInputException($"{path}: __metadata__.{key} is missing; expected a {FormatName} checkpoint");
        long Long(string key) => long.TryParse(Meta(key), NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) && v >= 0 ? v
            : throw new BadInputException($"{path}: __metadata__.{key} is '{meta[key]}'; expected a non-negative integer");
        StoredTensor Tensor(string name, string dtype) => tensors.TryGetValue(name, out var t)
            ? (t.DType == dtype ? t : throw new BadInputException($"{path}: tensor '{name}' is {t.DType}; expected {dtype}"))
            : throw new BadInputException($"{path}: tensor '{name}' is missing");

        if (Meta("format") != FormatName) throw new BadInputException($"{path}: __metadata__.format is '{meta["format"]}'; expected '{FormatName}'");
        Dictionary<string, long> optimSteps;
        try { optimSteps = JsonSerializer.Deserialize<Dictionary<string, long>>(Meta("optimizer_steps")) ?? throw new JsonException("null"); }
        catch (JsonException e) { throw new BadInputException($"{path}: __metadata__.optimizer_steps is not a JSON object of integers: {e.Message}", e); }

        var parameters = tensors.Values.Where(t => t.Name.StartsWith(ParamPrefix, StringComparison.Ordinal))
            .ToDictionary(t => t.Name[ParamPrefix.Length..], t => t.DType == "F32" ? t with { Name = t.Name[ParamPrefix.Length..] }
                : throw new BadInputException($"{path}: tensor '{t.Name}' is {t.DType}; expected F32"));
        var optimizer = optimSteps.ToDictionary(kv => kv.Key, kv => new AdamWSlot(kv.Value,
            Tensor($"{OptimPrefix}{kv.Key}/exp_avg", "F32"), Tensor($"{OptimPrefix}{kv.Key}/exp_avg_sq", "F32")));
        return new TrainingCheckpoint
        {
            Step = Long("step"),
            Epoch = checked((int)Long("epoch")),
            BatchInEpoch = checked((int)Long("batch_in_epoch")),
            EpochOrder = Tensor("data/epoch_order", "I32").AsInts(),
            Train = Tensor("data/train", "I32").AsInts(),
            Validation = Tensor("data/validation", "I32").AsInts(),
            TorchRngState = Tensor("rng/torch", "U8").Data,
            Hyperparameters = Meta("hyperparameters"),
            DataFingerprint = Meta("data_fingerprint"),
            BaseModelFingerprint = Meta("base_model_fingerprint"),
            Adapter = meta.Where(kv => kv.Key.StartsWith(AdapterPrefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[AdapterPrefix.Length..], kv => kv.Value),
            Parameters = parameters,
            Optimizer = optimizer,
        };
    }
}
