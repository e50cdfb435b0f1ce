using LlamaAdapter.Core.Data;
using LlamaAdapter.Training.Pipeline;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Training;

/// <summary>
/// Two trainer steps against AdamW written out by hand in double precision (torch.optim.AdamW's update with
/// decoupled decay, bias corrections, β = (0.9, 0.95), ε = 1e-8), fed the same accumulated gradients, with the
/// reference's decay groups and the lr the schedule gives each step.
/// </summary>
public sealed class AdamWReferenceTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("adamw-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void TwoSteps_MatchHandWrittenAdamW()
    {
        var records = Enumerable.Range(0, 16).Select(i => new AlpacaExample($"Q{i}", "", $"answer {i}")).ToList();
        var split = DataSplit.Create(16, validationCount: 2, seed: 3);
        var data = TrainingData.FromAlpaca(records, new AlpacaEncoder(new ByteTokenizer(), 160), split);
        var o = new TrainerOptions { Epochs = 2, WarmupEpochs = 0.5, BatchSize = 2, AccumSteps = 2, BaseLr = 2.0, WeightDecay = 0.1, Seed = 3 };

        // The trainer: snapshot the parameters after steps 1 and 2.
        using var trained = new TinyGatedLm(11);
        var snapshots = new List<Dictionary<string, float[]>>();
        var lrs = new List<double>();
        using var cts = new CancellationTokenSource();
        using (var t = new Trainer(trained, data, o, new Dictionary<string, string>()))
            t.Run(Path.Combine(_dir, "run"), new SyncProgress<TrainingProgress>(p =>
            {
                lrs.Add(p.Lr);
                snapshots.Add(trained.named_parameters().ToDictionary(x => x.name, x => x.parameter.detach().clone().data<float>().ToArray()));
                if (p.Step == 2) cts.Cancel();
            }), cts.Token);
        Assert.Equal(2, snapshots.Count);
        Assert.Equal(o.PeakLr * (0.0 / 8) / 0.5, lrs[0], 15);      // e = 0
        Assert.Equal(o.PeakLr * (2.0 / 8) / 0.5, lrs[1], 15);      // e = 2 batches of 8

        // By hand.
        using var manual = new TinyGatedLm(11);
        var trainable = manual.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        var p64 = trainable.ToDictionary(p => p.name, p => p.parameter.detach().data<float>().ToArray().Select(v => (double)v).ToArray());
        var m = p64.ToDictionary(kv => kv.Key, kv => new double[kv.Value.Length]);
        var v = p64.ToDictionary(kv => kv.Key, kv => new double[kv.Value.Length]);
        int[] order = SeededOrder.ForEpoch(16, 3, 0);
        for (int step = 1; step <= 2; step++)
        {
            var grads = trainable.ToDictionary(p => p.name, p => new double[p.parameter.numel()]);
            for (int k = 0; k < 2; k++)
            {
                int first = ((step - 1) * 2 + k) * 2;
                var batch = new[] { order[first], order[first + 1] }.Select(i => new AlpacaEncoder(new ByteTokenizer(), 160).Encode(records[i])).ToArray();
                using var ids = tensor(batch.SelectMany(e => e.Tokens.Select(x => (long)x)).ToArray(), [2, 160]);
                using var labels = tensor(batch.SelectMany(e => e.Labels.Select(x => (long)x)).ToArray(), [2, 160]);
                foreach (var (_, p) in trainable) p.grad?.zero_();
                CausalLmLoss.Compute(manual.forward(ids), labels).backward();
                foreach (var (name, p) in trainable)
                {
                    var g = p.grad!.data<float>().ToArray();
                    for (int i = 0; i < g.Length; i++) grads[name][i] += g[i] / 2.0;   // loss / accum_iter
                }
            }
            double lr = lrs[step - 1], b1 = 0.9, b2 = 0.95, eps = 1e-8;
            foreach (var (name, p) in trainable)
            {
                double wd = AdamWParamGroups.Decays(name, p) ? 0.1 : 0.0;
                var x = p64[name];
                for (int i = 0; i < x.Length; i++)
                {
                    double g = grads[name][i];
                    x[i] *= 1 - lr * wd;
                    m[name][i] = b1 * m[name][i] + (1 - b1) * g;
                    v[name][i] = b2 * v[name][i] + (1 - b2) * g * g;
                    double mhat = m[name][i] / (1 - Math.Pow(b1, step)), denom = Math.Sqrt(v[name][i]) / Math.Sqrt(1 - Math.Pow(b2, step)) + eps;
                    x[i] -= lr * mhat / denom;
                }
                using (no_grad()) p.copy_(tensor(x.Select(d => (float)d).ToArray(), p.shape));
            }
            foreach (var (name, x) in p64)
            {
                var got = snapshots[step - 1][name];
                for (int i = 0; i < x.Length; i++)
                    Assert.True(Math.Abs(got[i] - x[i]) <= 2e-6 * Math.Max(1, Math.Abs(x[i])), $"step {step} {name}[{i}]: trainer {got[i]}, by hand {x[i]}");
            }
        }
        Assert.NotEqual(snapshots[0]["adapter_query.weight"], snapshots[1]["adapter_query.weight"]);   // prompts moved once the gate opened
    }
}
