using LlamaAdapter.Training.Adapters;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Model;

/// <summary>Reads an adapter's parameters back and computes its prompts and gates in double, independently of its forward.</summary>
internal static class AdapterReference
{
    public static ReferencePrompts Of(PromptAdapter a, int dim)
    {
        var p = a.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        var cfg = a.Config;
        int k = cfg.Layers, len = cfg.PromptLength;
        double[][] prompts;
        if (cfg.Kind == AdapterKind.Nonlinear)
        {
            var embed = D(p["hyper.layer_embed"]);
            var w2 = D(p["hyper.prompt.weight"]);
            var b2 = D(p["hyper.prompt.bias"]);
            int e = cfg.HyperEmbedDim;
            prompts = new double[k][];
            for (int j = 0; j < k; j++)
            {
                var x = embed.Skip((a.FirstLayer + j) * e).Take(e).ToArray();
                double[] hidden;
                if (cfg.HyperHidden > 0)
                {
                    var w1 = D(p["hyper.linear1.weight"]);
                    var b1 = D(p["hyper.linear1.bias"]);
                    hidden = Enumerable.Range(0, cfg.HyperHidden).Select(r => Act(cfg.HyperActivation,
                        b1[r] + Enumerable.Range(0, e).Sum(c => w1[r * e + c] * x[c]))).ToArray();
                    prompts[j] = Enumerable.Range(0, len * dim).Select(r =>
                        b2[r] + Enumerable.Range(0, hidden.Length).Sum(c => w2[(long)r * hidden.Length + c] * hidden[c])).ToArray();
                }
                else
                    prompts[j] = Enumerable.Range(0, len * dim).Select(r => Act(cfg.HyperActivation,
                        b2[r] + Enumerable.Range(0, e).Sum(c => w2[(long)r * e + c] * x[c]))).ToArray();
            }
        }
        else
        {
            var all = D(p["prompts"]);
            prompts = Enumerable.Range(0, k).Select(j => all.Skip(j * len * dim).Take(len * dim).ToArray()).ToArray();
        }
        double[][]? gates = null;
        if (cfg.Kind != AdapterKind.Prefix)
        {
            var g = D(p["gates"]);
            int width = g.Length / k;
            gates = Enumerable.Range(0, k).Select(j => g.Skip(j * width).Take(width)
                .Select(v => cfg.Gate == GateMode.PerHeadTanh ? Math.Tanh(v) : v).ToArray()).ToArray();
        }
        return new ReferencePrompts(prompts, gates, len);
    }

    private static double Act(HyperActivation a, double x) => a switch
    {
        HyperActivation.Relu => Math.Max(0, x),
        HyperActivation.Tanh => Math.Tanh(x),
        HyperActivation.Sigmoid => 1 / (1 + Math.Exp(-x)),
        HyperActivation.LeakyRelu => x >= 0 ? x : 0.1 * x,
        _ => throw new NotSupportedException(a.ToString()),
    };

    public static double[] D(Tensor t) => t.detach().to(ScalarType.Float64).contiguous().data<double>().ToArray();

    /// <summary>Gates and hypernetwork outputs large enough that the prompt term moves the logits visibly.</summary>
    public static void Perturb(PromptAdapter a, int seed = 3)
    {
        var gen = new Generator((ulong)seed);
        using var _ = no_grad();
        foreach (var (name, t) in a.named_parameters())
        {
            // rand with a generator, not nn.init.uniform_ (which ignores it in TorchSharp 0.107).
            double bound = name switch { "gates" => 1.5, "hyper.prompt.weight" => 0.3, "hyper.prompt.bias" => 0.5, _ => 0 };
            if (bound > 0) t.copy_(rand(t.shape, t.dtype, generator: gen) * (2 * bound) - bound);
        }
    }

    public static double MaxAbsDiff(double[,,] expected, Tensor actual)
    {
        var a = D(actual);
        double m = 0;
        int i = 0;
        foreach (var e in expected) m = Math.Max(m, Math.Abs(e - a[i++]));
        return m;
    }
}
