using System.Diagnostics;
using System.Text.RegularExpressions;
using LlamaAdapter.Core;
using LlamaAdapter.Training.Checkpoints;
using LlamaAdapter.Training.Metrics;
using LlamaAdapter.Training.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Pipeline;

/// <summary>Where a run stands, after each optimizer step.</summary>
public sealed record TrainingProgress(long Step, long TotalSteps, int Epoch, double Loss, double Lr, double TokensPerSecond);

/// <summary>How a run ended: all steps done, or stopped on request (then <see cref="LastCheckpoint"/> resumes it).</summary>
public sealed record TrainingResult(long Steps, long TotalSteps, bool Stopped, string? LastCheckpoint, IReadOnlyList<double> TrainLosses, IReadOnlyList<double> ValidationLosses);

/// <summary>A non-finite loss: the reference stops the run (engine_finetuning.py:43-45); so do we, naming where.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);

/// <summary>
/// The reference fine-tuning loop (engine_finetuning.py, finetuning.py) for any model ids [B, T] → logits [B, T, V]
/// whose trainable parameters are those with requires_grad:
/// AdamW in timm's two weight-decay groups, the lr set from the warm-up + half-cosine schedule at the first
/// micro-batch of every optimizer step, each micro-batch's loss divided by the accumulation count, gradients zeroed
/// at every epoch's start and after each step, validation at each epoch's end. Micro-batches past the last full
/// accumulation of an epoch are not run: the reference runs them but zeroes their gradients before they are used.
/// Checkpoints fall on optimizer-step boundaries, so a resumed run continues bit for bit on the same device.
/// Over a <see cref="ReplicaSet"/> of several devices a step's micro-batches are split among the replicas; the
/// recipe (and so the checkpoint's trajectory key) is the one-device run's, which a checkpoint of either resumes.
/// </summary>
public sealed partial class Trainer : IDisposable
{
    private readonly nn.Module<Tensor, Tensor> _model;   // the master replica
    private readonly ReplicaSet _replicas;
    private readonly TrainingData _data;
    private readonly TrainerOptions _o;
    private readonly IReadOnlyDictionary<string, string> _adapter;
    private readonly string _baseFingerprint;
    private readonly Device _device;
    private readonly List<(string Name, Parameter Param)> _trainable;   // in the optimizer's state order
    private readonly Func<IReadOnlyDictionary<int, float[]>>? _gateReader;
    private readonly List<(int Layer, Parameter Param)> _gates;
    private readonly AdamW _optimizer;
    private readonly AdamWStep _adamW;       // the optimizer's update without TorchSharp's temporary Scalars
    private readonly LearningRateSchedule _schedule;
    private readonly bool _chunked;

    private long _step;
    private int _epoch, _batchInEpoch;
    private int[]? _epochOrder;

    public int BatchesPerEpoch { get; }
    public int StepsPerEpoch { get; }
    public long TotalSteps => (long)StepsPerEpoch * _o.Epochs;
    public long Step => _step;
    /// <summary>Malformed records the data file had and <c>--skip-bad</c> left out (0 otherwise: they are errors).</summary>
    public int SkippedRecords { get; init; }
    public IReadOnlyList<string> TrainableNames => _trainable.Select(t => t.Name).ToList();

    [GeneratedRegex(@"(?:^|\.)layers\.(\d+)\.")]
    private static partial Regex LayerIndex();

    /// <param name="adapter">The adapter's configuration, kept in every checkpoint and in the extracted adapter file.</param>
    /// <param name="gateReader">
    /// The gate values per absolute layer index for the metrics log; without it, trainable parameters named
    /// <c>layers.{i}.….gate</c> (the reference's naming) are reported.
    /// </param>
    public Trainer(nn.Module<Tensor, Tensor> model, TrainingData data, TrainerOptions options, IReadOnlyDictionary<string, string> adapter,
                   Func<IReadOnlyDictionary<int, float[]>>? gateReader = null)
        : this(ReplicaSet.Single(model), data, options, adapter, gateReader) { }

    /// <summary>Trains the master of <paramref name="replicas"/>, each optimizer step's micro-batches shared among them.</summary>
    public Trainer(ReplicaSet replicas, TrainingData data, TrainerOptions options, IReadOnlyDictionary<string, string> adapter,
                   Func<IReadOnlyDictionary<int, float[]>>? gateReader = null)
    {
        _gateReader = gateReader;
        options.Validate();
        if (options.AccumSteps % replicas.Count != 0)
            throw new ArgumentException($"--accum {options.AccumSteps}: the micro-batches of an optimizer step are shared equally among the {replicas.Count} replicas of --devices {string.Join(",", replicas.Devices)}; expected a multiple of {replicas.Count}");
        var model = replicas.Master;
        _replicas = replicas;
        _model = model;
        _data = data;
        _o = options;
        _adapter = adapter;

        BatchesPerEpoch = data.Split.Train.Length / options.BatchSize;                 // DataLoader(drop_last=True)
        StepsPerEpoch = BatchesPerEpoch / options.AccumSteps;
        if (StepsPerEpoch == 0)
            throw new ArgumentException($"{data.Split.Train.Length} training examples make {BatchesPerEpoch} batches of {options.BatchSize}; " +
                                        $"an optimizer step needs {options.AccumSteps} (lower --batch-size or --accum, or use more data)");

        var named = model.named_parameters().ToList();
        var (decay, noDecay) = AdamWParamGroups.Split(named);
        _trainable = [.. decay, .. noDecay];
        if (_trainable.Count == 0) throw new ArgumentException("the model has no parameter with requires_grad: nothing to train");
        foreach (var (name, p) in _trainable)
            if (p.dtype is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16))
                throw new ArgumentException($"trainable parameter {name} is {p.dtype}; expected float32 (or float16/bfloat16)");
        _gates = _trainable.Where(t => t.Name.Contains("gate", StringComparison.Ordinal) && LayerIndex().IsMatch(t.Name))
                           .Select(t => (int.Parse(LayerIndex().Match(t.Name).Groups[1].Value), t.Param)).OrderBy(g => g.Item1).ToList();
        _device = _trainable[0].Param.device;
        _chunked = model is LlamaModel lm && HeadIsFrozen(lm);    // the replicas train the same parameters
        _baseFingerprint = BaseModelFingerprint.Compute(model);

        var groups = new List<AdamW.ParamGroup>();
        if (decay.Count > 0) groups.Add(new AdamW.ParamGroup(decay.Select(d => d.Param), options.PeakLr, options.Beta1, options.Beta2, options.Eps, options.WeightDecay));
        if (noDecay.Count > 0) groups.Add(new AdamW.ParamGroup(noDecay.Select(d => d.Param), options.PeakLr, options.Beta1, options.Beta2, options.Eps, 0.0));
        _optimizer = optim.AdamW(groups, options.PeakLr, options.Beta1, options.Beta2, options.Eps);
        _adamW = new AdamWStep(_optimizer);
        _schedule = new LearningRateSchedule(options.PeakLr, options.WarmupEpochs, options.Epochs, options.MinLr);
    }

    /// <summary>Continues from a checkpoint: refused, naming what differs, unless recipe, data and base model are the same.</summary>
    public void Restore(TrainingCheckpoint c, string file)
    {
        void Same(string what, string theirs, string ours)
        {
            if (theirs != ours) throw new BadInputException($"{file}: {what} differs: checkpoint '{theirs}', this run '{ours}'; resume needs the same");
        }
        Same("hyperparameters", c.Hyperparameters, _o.TrajectoryKey());
        Same("data (records and max-seq-len)", c.DataFingerprint, _data.Fingerprint);
        Same("base model", c.BaseModelFingerprint, _baseFingerprint);
        if (!c.Train.SequenceEqual(_data.Split.Train) || !c.Validation.SequenceEqual(_data.Split.Validation))
            throw new BadInputException($"{file}: the train/validation split differs (--max-examples, --train-fraction or --seed changed)");
        Same("trainable parameters", string.Join(",", c.Parameters.Keys.Order(StringComparer.Ordinal)), string.Join(",", _trainable.Select(t => t.Name).Order(StringComparer.Ordinal)));
        if (c.Epoch > _o.Epochs || c.BatchInEpoch > BatchesPerEpoch || c.BatchInEpoch % _o.AccumSteps != 0 || c.Step > TotalSteps)
            throw new BadInputException($"{file}: position epoch {c.Epoch}, batch {c.BatchInEpoch}, step {c.Step} is outside this run's {_o.Epochs} epochs of {BatchesPerEpoch} batches");
        if (c.Epoch < _o.Epochs && c.EpochOrder.Length != _data.Split.Train.Length)
            throw new BadInputException($"{file}: tensor 'data/epoch_order' has {c.EpochOrder.Length} entries; expected {_data.Split.Train.Length}");

        var states = _optimizer.state_dict().State;
        for (int i = 0; i < _trainable.Count; i++)
        {
            var (name, p) = _trainable[i];
            TorchTensors.CopyInto(p, c.Parameters[name], file);
            if (!c.Optimizer.TryGetValue(name, out var slot)) throw new BadInputException($"{file}: no optimizer state for '{name}'");
            var s = (AdamW.State)states[i];
            s.step = slot.Step;
            TorchTensors.CopyInto(s.exp_avg, slot.ExpAvg, file);
            TorchTensors.CopyInto(s.exp_avg_sq, slot.ExpAvgSq, file);
        }
        TorchTensors.SetRngState(c.TorchRngState);
        _step = c.Step;
        _epoch = c.Epoch;
        _batchInEpoch = c.BatchInEpoch;
        _epochOrder = c.Epoch < _o.Epochs ? c.EpochOrder : null;
    }

    public TrainingCheckpoint Capture(byte[] rngState)
    {
        var states = _optimizer.state_dict().State;
        return new TrainingCheckpoint
        {
            Step = _step,
            Epoch = _epoch,
            BatchInEpoch = _batchInEpoch,
            EpochOrder = _epochOrder ?? [],
            Train = _data.Split.Train,
            Validation = _data.Split.Validation,
            TorchRngState = rngState,
            Hyperparameters = _o.TrajectoryKey(),
            DataFingerprint = _data.Fingerprint,
            BaseModelFingerprint = _baseFingerprint,
            Adapter = _adapter,
            Parameters = _trainable.ToDictionary(t => t.Name, t => TorchTensors.ToStored(t.Name, t.Param)),
            Optimizer = _trainable.Select((t, i) => (t.Name, State: (AdamW.State)states[i]))
                .ToDictionary(x => x.Name, x => new AdamWSlot(x.State.step, TorchTensors.ToStored(x.Name, x.State.exp_avg), TorchTensors.ToStored(x.Name, x.State.exp_avg_sq))),
        };
    }

    /// <summary>
    /// Trains to the end, or until <paramref name="ct"/> is cancelled: then the unfinished optimizer step is dropped,
    /// a checkpoint of the last finished one is written, and the result says Stopped.
    /// </summary>
    public TrainingResult Run(string runDir, IProgress<TrainingProgress>? progress = null, CancellationToken ct = default)
    {
        Directory.CreateDirectory(runDir);
        using var metrics = MetricsLog.Open(Path.Combine(runDir, "metrics.jsonl"), keepUpToStep: _step);
        var trainLosses = new List<double>();
        var valLosses = new List<double>();
        string? last = null;
        int[] train = _data.Split.Train;
        TrainingResult Stop(byte[] rngAtStep)
        {
            _optimizer.zero_grad();
            last = SaveCheckpoint(runDir, rngAtStep);
            return new TrainingResult(_step, TotalSteps, Stopped: true, last, trainLosses, valLosses);
        }

        _replicas.Train();
        _replicas.Broadcast();            // the master's parameters as constructed or restored
        while (_epoch < _o.Epochs)
        {
            _epochOrder ??= SeededOrder.ForEpoch(train.Length, _o.Seed, _epoch);
            if (_batchInEpoch == 0) _optimizer.zero_grad();
            int usable = StepsPerEpoch * _o.AccumSteps;
            using Scalar accum = _o.AccumSteps.ToScalar();    // owned, so no collection frees it mid-call (TensorOps)
            while (_batchInEpoch < usable)
            {
                byte[] rngAtStep = TorchTensors.GetRngState();
                double lr = _schedule.At(_epoch, _batchInEpoch, BatchesPerEpoch);
                foreach (var g in _optimizer.ParamGroups) g.LearningRate = lr;
                var clock = Stopwatch.StartNew();
                double lossSum = 0;
                long tokens = 0;
                if (_replicas.Count == 1)
                    for (int k = 0; k < _o.AccumSteps; k++)
                    {
                        if (ct.IsCancellationRequested) return Stop(rngAtStep);
                        int b = _batchInEpoch + k;
                        int[] records = BatchRecords(b);
                        using var scope = NewDisposeScope();
                        var (ids, labels, n) = MakeBatch(records);
                        tokens += n;
                        var loss = Loss(ids, labels);
                        double value = loss.item<float>();
                        if (!double.IsFinite(value)) throw Diverged(value, b, records);
                        lossSum += value;
                        loss.div(accum).backward();           // = loss / AccumSteps
                        _replicas.Counted(0, 1);
                    }
                else if (!AccumulateOnReplicas(ref lossSum, ref tokens, ct)) return Stop(rngAtStep);
                double gradNorm = ClipAndMeasureGradients();
                _adamW.Step();
                _optimizer.zero_grad();
                _replicas.Broadcast();
                _step++;
                _batchInEpoch += _o.AccumSteps;

                double meanLoss = lossSum / _o.AccumSteps;
                double tps = tokens / Math.Max(clock.Elapsed.TotalSeconds, 1e-9);
                trainLosses.Add(meanLoss);
                metrics.Write(new StepMetrics
                {
                    Step = _step, Epoch = _epoch + (double)_batchInEpoch / BatchesPerEpoch, Loss = meanLoss, Lr = lr,
                    GradNorm = gradNorm, TokensPerSecond = tps, Gates = GateValues(),
                });
                progress?.Report(new TrainingProgress(_step, TotalSteps, _epoch, meanLoss, lr, tps));
                if (_o.SaveEvery > 0 && _step % _o.SaveEvery == 0 && _batchInEpoch < usable)
                    last = SaveCheckpoint(runDir, TorchTensors.GetRngState());
            }

            double? val = Validate(_epoch);
            if (val is { } v)
            {
                valLosses.Add(v);
                metrics.Write(new StepMetrics { Step = _step, Epoch = _epoch + 1, ValLoss = v });
            }
            _epoch++;
            _batchInEpoch = 0;
            _epochOrder = null;
            last = SaveCheckpoint(runDir, TorchTensors.GetRngState());    // the reference saves every epoch
        }
        return new TrainingResult(_step, TotalSteps, Stopped: false, last, trainLosses, valLosses);
    }

    /// <summary>
    /// One optimizer step's micro-batches over several replicas (holding the master's parameters): replica r runs
    /// the r-th contiguous share of them, in order, on its own thread; their gradients are then summed onto the
    /// master's. Batches are encoded here on the calling thread, as on one device (the tokenizer need not be
    /// thread-safe). False when <paramref name="ct"/> stopped a micro-batch from running: the step is dropped.
    /// </summary>
    private bool AccumulateOnReplicas(ref double lossSum, ref long tokens, CancellationToken ct)
    {
        int n = _o.AccumSteps, share = n / _replicas.Count;
        var records = new int[n][];
        var batches = new EncodedBatch[n];
        for (int k = 0; k < n; k++)
        {
            records[k] = BatchRecords(_batchInEpoch + k);
            batches[k] = Encode(records[k]);
            tokens += batches[k].Tokens;
        }
        var losses = new double[n];
        var ran = new bool[n];
        using Scalar accum = _o.AccumSteps.ToScalar();        // owned, so no collection frees it mid-call (TensorOps)
        _replicas.Parallel(r =>
        {
            var (model, device) = (_replicas.Models[r], _replicas.Devices[r]);
            for (int k = r * share; k < (r + 1) * share; k++)
            {
                // A replica stops at its own first non-finite loss only, never at another's: each runs its share in
                // order, so the lowest such micro-batch over all replicas is the one a single device stops at.
                if (ct.IsCancellationRequested) return;
                using var scope = NewDisposeScope();
                var (ids, labels) = ToDevice(batches[k], device);
                var loss = Loss(model, ids, labels);
                losses[k] = loss.item<float>();
                ran[k] = true;
                if (!double.IsFinite(losses[k])) return;
                loss.div(accum).backward();                   // = loss / AccumSteps
                _replicas.Counted(r, 1);
            }
        });
        for (int k = 0; k < n; k++)
            if (ran[k] && !double.IsFinite(losses[k])) throw Diverged(losses[k], _batchInEpoch + k, records[k]);
        if (ran.Contains(false)) return false;
        foreach (double v in losses) lossSum += v;            // in micro-batch order, as on one device
        _replicas.SumGradientsIntoMaster();
        return true;
    }

    private int[] BatchRecords(int b) => Enumerable.Range(b * _o.BatchSize, _o.BatchSize).Select(i => _data.Split.Train[_epochOrder![i]]).ToArray();

    private TrainingDivergedException Diverged(double value, int b, int[] records) =>
        new($"loss is {value} at step {_step + 1} (epoch {_epoch}, batch {b}, records {string.Join(",", records)}): stopping as the reference does; a batch whose answers were all cut by --max-seq-len also gives NaN");

    /// <summary>
    /// Mean loss over the validation batches, visited in the epoch's seeded order as the reference's
    /// DistributedSampler does (drop_last; one short batch when there are fewer examples than a batch).
    /// </summary>
    public double? Validate(int epoch)
    {
        int[] val = _data.Split.Validation;
        if (val.Length == 0) return null;
        int[] order = SeededOrder.ForEpoch(val.Length, _o.Seed, epoch);
        int size = Math.Min(_o.BatchSize, val.Length);
        int batches = val.Length / size;
        double sum = 0;
        _model.eval();
        try
        {
            using var _ = no_grad();
            for (int b = 0; b < batches; b++)
            {
                using var scope = NewDisposeScope();
                var (ids, labels, _) = MakeBatch(Enumerable.Range(b * size, size).Select(i => val[order[i]]).ToArray());
                sum += Loss(ids, labels).item<float>();
            }
        }
        finally { _model.train(); }
        return sum / batches;
    }

    /// <summary>
    /// The reference loss; on a <see cref="LlamaModel"/> whose output head is frozen, through
    /// <see cref="ChunkedCrossEntropy"/> (same value and gradients, without the full float32 logits).
    /// </summary>
    private Tensor Loss(Tensor ids, Tensor labels) => Loss(_model, ids, labels);

    private Tensor Loss(nn.Module<Tensor, Tensor> model, Tensor ids, Tensor labels) =>
        _chunked && model is LlamaModel lm
            ? ChunkedCrossEntropy.Compute(lm.ForwardHidden(ids), labels, lm.Logits)
            : CausalLmLoss.Compute(model.forward(ids), labels);

    /// <summary>A micro-batch as host arrays: ids and labels [B, T] row-major, and its real (unpadded) token count.</summary>
    private readonly record struct EncodedBatch(long[] Ids, long[] Labels, long[] Shape, long Tokens);

    private (Tensor Ids, Tensor Labels, long Tokens) MakeBatch(int[] records)
    {
        var b = Encode(records);
        var (ids, labels) = ToDevice(b, _device);
        return (ids, labels, b.Tokens);
    }

    private static (Tensor Ids, Tensor Labels) ToDevice(EncodedBatch b, Device device) =>
        (tensor(b.Ids, b.Shape).to(device), tensor(b.Labels, b.Shape).to(device));

    private EncodedBatch Encode(int[] records)
    {
        int t = _data.SeqLen;
        var ids = new long[records.Length * t];
        var labels = new long[records.Length * t];
        long tokens = 0;
        for (int r = 0; r < records.Length; r++)
        {
            var e = _data.Encode(records[r]);
            for (int i = 0; i < t; i++) { ids[r * t + i] = e.Tokens[i]; labels[r * t + i] = e.Labels[i]; }
            tokens += e.Length;
        }
        return new EncodedBatch(ids, labels, [records.Length, t], tokens);                // [B, T]
    }

    /// <summary>The global L2 norm of the gradients (as the reference's loss scaler reports it), clipped when asked.</summary>
    private double ClipAndMeasureGradients()
    {
        var withGrad = _trainable.Select(t => t.Param).Where(p => p.grad is not null).ToList();
        if (withGrad.Count == 0) return 0;
        if (_o.ClipNorm is { } max) return nn.utils.clip_grad_norm_(withGrad, max);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var norms = withGrad.Select(p => p.grad!.detach().to_type(ScalarType.Float32).norm()).ToArray();
        return stack(norms).norm().item<float>();
    }

    private Dictionary<string, float[]>? GateValues()
    {
        if (_gateReader is not null)
            return _gateReader().ToDictionary(kv => kv.Key.ToString(System.Globalization.CultureInfo.InvariantCulture), kv => kv.Value);
        if (_gates.Count == 0) return null;
        var d = new Dictionary<string, float[]>();
        foreach (var (layer, p) in _gates)
        {
            using var c = p.detach().cpu().to_type(ScalarType.Float32).contiguous();
            d[layer.ToString(System.Globalization.CultureInfo.InvariantCulture)] = c.data<float>().ToArray();
        }
        return d;
    }

    private string SaveCheckpoint(string runDir, byte[] rng)
    {
        string path = CheckpointDirectory.PathFor(runDir, _step);
        Capture(rng).Save(path);
        CheckpointDirectory.Prune(runDir, _o.KeepCheckpoints);
        return path;
    }

    /// <summary>The chunked loss hands gradients only to the hidden states, so it needs output (or tied embeddings) frozen.</summary>
    private static bool HeadIsFrozen(LlamaModel lm) =>
        !lm.named_parameters().Any(p => p.parameter.requires_grad &&
                                        (p.name.StartsWith("output.", StringComparison.Ordinal) || p.name.StartsWith("tok_embeddings.", StringComparison.Ordinal)));

    public void Dispose() => _optimizer.Dispose();
}
