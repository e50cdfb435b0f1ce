using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Pipeline;

/// <summary>
/// TorchSharp's AdamW update, op for op (decoupled decay, exp_avg / exp_avg_sq, bias corrections, addcdiv), on the
/// optimizer's own parameter groups and state, with every Scalar owned until its native call has returned.
/// TorchSharp 0.107's <c>AdamW.step</c> passes temporaries (<c>add_(grad, alpha: 1 - beta1)</c>, <c>addcmul_(…, value:
/// 1 - beta2)</c>) that a collection can free mid-call (seen in CI: "toFloat at c10/core/Scalar.h" under
/// <c>addcmul_</c>; see <see cref="Model.TensorOps"/>). Same arithmetic in the same order, so trajectories and
/// checkpoints are unchanged (tested bit for bit against <c>AdamW.step</c>).
/// </summary>
public sealed class AdamWStep
{
    private readonly AdamW _optimizer;
    private readonly List<AdamW.State> _states;   // the optimizer's live state objects, in group and parameter order

    public AdamWStep(AdamW optimizer)
    {
        _optimizer = optimizer;
        _states = optimizer.state_dict().State.Cast<AdamW.State>().ToList();
        int parameters = Groups(optimizer).Sum(g => g.Parameters.Count());
        if (_states.Count != parameters)
            throw new InvalidOperationException($"AdamW holds {_states.Count} states for {parameters} parameters");
    }

    private static IEnumerable<TorchSharp.Modules.ParamGroup> Groups(AdamW optimizer) => optimizer.ParamGroups.Cast<TorchSharp.Modules.ParamGroup>();

    public void Step()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int i = 0;
        foreach (var group in Groups(_optimizer))
        {
            var o = (AdamW.Options)group.Options;
            if (o.amsgrad == true || o.maximize == true) throw new NotSupportedException("AdamWStep: amsgrad and maximize are not used by the reference");
            double lr = o.LearningRate!.Value, beta1 = o.beta1!.Value, beta2 = o.beta2!.Value, eps = o.eps!.Value, wd = o.weight_decay!.Value;
            using Scalar decay = (1 - lr * wd).ToScalar(), b1 = beta1.ToScalar(), oneMinusB1 = (1 - beta1).ToScalar(),
                         b2 = beta2.ToScalar(), oneMinusB2 = (1 - beta2).ToScalar(), epsilon = eps.ToScalar();
            foreach (var p in group.Parameters)
            {
                var s = _states[i++];
                var grad = p.grad;
                if (grad is null) continue;
                s.step += 1;
                p.mul_(decay);
                double bias1 = 1 - Math.Pow(beta1, s.step), bias2 = 1 - Math.Pow(beta2, s.step);
                s.exp_avg.mul_(b1).add_(grad, oneMinusB1);
                s.exp_avg_sq.mul_(b2).addcmul_(grad, grad, oneMinusB2);
                using Scalar sqrtBias2 = Math.Sqrt(bias2).ToScalar(), minusStepSize = (-(lr / bias1)).ToScalar();
                var denom = s.exp_avg_sq.sqrt().div(sqrtBias2).add_(epsilon);        // sqrt(v) / √(1 − β2^t) + ε
                p.addcdiv_(s.exp_avg, denom, minusStepSize);                           // p −= lr / (1 − β1^t) · m / denom
            }
        }
    }
}
