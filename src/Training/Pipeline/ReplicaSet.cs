using System.Runtime.ExceptionServices;
using LlamaAdapter.Training.Checkpoints;
using LlamaAdapter.Training.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Pipeline;

/// <summary>
/// Data parallelism on one machine: the same model once per device, replica 0 the master. The optimizer sees only the
/// master's trainable parameters; an optimizer step's micro-batches are split among the replicas, each runs its share
/// on its own thread (forward and backward into its own gradients), the gradients are summed onto the master in
/// replica order (1, 2, …: the same sum every run), and after the optimizer's step the replicas take the master's
/// new values. With one replica nothing is copied and no thread is started.
/// </summary>
public sealed class ReplicaSet
{
    private readonly nn.Module<Tensor, Tensor>[] _models;
    private readonly Parameter[][] _trainable;   // [replica][i]: the same named parameter in every replica
    private readonly long[] _microBatches;

    public int Count => _models.Length;
    public nn.Module<Tensor, Tensor> Master => _models[0];
    public IReadOnlyList<nn.Module<Tensor, Tensor>> Models => _models;
    /// <summary>Where each replica computes: the device of its trainable parameters.</summary>
    public IReadOnlyList<Device> Devices { get; }
    /// <summary>Micro-batches each replica has run forward and backward (validation not counted).</summary>
    public IReadOnlyList<long> MicroBatches => _microBatches;

    public static ReplicaSet Single(nn.Module<Tensor, Tensor> model) => new([model]);

    /// <param name="models">
    /// The master first. Every replica must have the master's trainable parameters (names, shapes, dtypes) as
    /// tensors of its own, and the master's frozen base (same <see cref="BaseModelFingerprint"/>).
    /// </param>
    public ReplicaSet(IReadOnlyList<nn.Module<Tensor, Tensor>> models)
    {
        if (models.Count == 0) throw new ArgumentException("a replica set needs at least one model");
        _models = [.. models];
        for (int r = 1; r < _models.Length; r++)
        {
            if (_models.Take(r).Any(m => ReferenceEquals(m, _models[r])))
                throw new ArgumentException($"replica {r} is the same model object as an earlier one; each device needs its own replica");
            if (_models[r].GetType() != _models[0].GetType())
                throw new ArgumentException($"replica {r} is a {_models[r].GetType().Name}, the master a {_models[0].GetType().Name}");
        }

        var master = Trainables(_models[0]);
        _trainable = new Parameter[_models.Length][];
        _trainable[0] = master.Select(t => t.Param).ToArray();
        string masterBase = _models.Length > 1 ? BaseModelFingerprint.Compute(_models[0]) : "";
        for (int r = 1; r < _models.Length; r++)
        {
            var mine = Trainables(_models[r]);
            static string Describe(List<(string Name, Parameter Param)> ps, int i) =>
                i < ps.Count ? $"{ps[i].Name} [{string.Join(", ", ps[i].Param.shape)}] {ps[i].Param.dtype}" : "nothing more";
            int differs = Enumerable.Range(0, Math.Max(mine.Count, master.Count)).FirstOrDefault(i => Describe(mine, i) != Describe(master, i), -1);
            if (differs >= 0)
                throw new ArgumentException($"replica {r}'s trainable parameter {differs} is {Describe(mine, differs)}; the master's is {Describe(master, differs)}");
            if (BaseModelFingerprint.Compute(_models[r]) != masterBase)
                throw new ArgumentException($"replica {r} has another frozen base than the master (base model fingerprints differ)");
            _trainable[r] = mine.Select(t => t.Param).ToArray();
        }
        if (_trainable[0].Length == 0) throw new ArgumentException("the model has no parameter with requires_grad: nothing to train");
        Devices = _trainable.Select(ps => ps[0].device).ToArray();
        _microBatches = new long[_models.Length];
    }

    /// <summary>
    /// The master's frozen base on <paramref name="device"/>, as a new <see cref="LlamaModel"/> built through the same
    /// <see cref="WeightSource"/> path from the master's tensors: on the master's device it shares them (no memory),
    /// elsewhere each is copied once in the model dtype (never through float32). Attach the master's adapter (LoRA,
    /// BitFit) to it before building the set; its initial values do not matter, the set copies the master's in.
    /// </summary>
    public static LlamaModel FrozenCopy(LlamaModel master, Device device)
    {
        var byName = master.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        foreach (var (name, _) in WeightSource.ExpectedTensors(master.Config))
            if (byName[name].requires_grad)
                throw new ArgumentException($"{name} trains; data parallel replicates a frozen base (only adapter, LoRA or BitFit parameters may train)");
        return new LlamaModel(master.Config, name => byName.GetValueOrDefault(name), master.Options with { Device = device }, $"replica of the model on {master.Options.TargetDevice}");
    }

    internal void Train()
    {
        foreach (var m in _models) m.train();
    }

    internal void Counted(int replica, int microBatches) => _microBatches[replica] += microBatches;

    /// <summary>Master → every other replica, and their gradients zeroed: the next step starts from the master's state.</summary>
    internal void Broadcast()
    {
        if (Count == 1) return;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        for (int r = 1; r < Count; r++)
            for (int i = 0; i < _trainable[0].Length; i++)
            {
                _trainable[r][i].copy_(_trainable[0][i]);
                _trainable[r][i].grad?.zero_();
            }
    }

    /// <summary>
    /// Adds replica 1's, 2's, … gradients onto the master's, in that order, each first copied to the master's device,
    /// and zeroes them. A parameter the master got no gradient for takes the first replica's that has one.
    /// </summary>
    internal void SumGradientsIntoMaster()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        for (int i = 0; i < _trainable[0].Length; i++)
        {
            var master = _trainable[0][i];
            for (int r = 1; r < Count; r++)
            {
                if (_trainable[r][i].grad is not { } g) continue;
                var onMaster = g.to(master.device);
                if (master.grad is { } mg) mg.PlusInPlace(onMaster);
                else master.grad = onMaster.clone();    // a copy: the replica's own is zeroed next
                g.zero_();
            }
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/>(r) for every replica at once: replica 0 on the calling thread, the others on
    /// threads of their own (TorchSharp dispose scopes are per thread, so each makes its own). Rethrows the first
    /// replica's exception, in replica order, after all have finished.
    /// </summary>
    internal void Parallel(Action<int> work)
    {
        var errors = new Exception?[Count];
        var threads = new Thread[Count - 1];
        for (int r = 1; r < Count; r++)
        {
            int replica = r;
            threads[r - 1] = new Thread(() =>
            {
                try { work(replica); }
                catch (Exception e) { errors[replica] = e; }
            }, maxStackSize: 16 << 20) { IsBackground = true, Name = $"replica {r} ({Devices[r]})" };
            threads[r - 1].Start();
        }
        try { work(0); }
        catch (Exception e) { errors[0] = e; }
        foreach (var t in threads) t.Join();
        if (errors.FirstOrDefault(e => e is not null) is { } first) ExceptionDispatchInfo.Capture(first).Throw();
    }

    private static List<(string Name, Parameter Param)> Trainables(nn.Module<Tensor, Tensor> m) =>
        m.named_parameters().Where(p => p.parameter.requires_grad).Select(p => (p.name, p.parameter)).ToList();
}
