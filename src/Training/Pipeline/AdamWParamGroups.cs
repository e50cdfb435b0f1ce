using TorchSharp.Modules;

namespace LlamaAdapter.Training.Pipeline;

/// <summary>
/// timm's param_groups_weight_decay as the reference calls it (finetuning.py:238-248): only trainable parameters;
/// no decay for 1-D tensors or names ending ".bias"; decay for everything else — the 4-D gates included.
/// </summary>
public static class AdamWParamGroups
{
    public static bool Decays(string name, Parameter p) => p.dim() > 1 && !name.EndsWith(".bias", StringComparison.Ordinal);

    public static (List<(string Name, Parameter Param)> Decay, List<(string Name, Parameter Param)> NoDecay) Split(
        IEnumerable<(string Name, Parameter Param)> named)
    {
        var decay = new List<(string, Parameter)>();
        var noDecay = new List<(string, Parameter)>();
        foreach (var (name, p) in named)
        {
            if (!p.requires_grad) continue;
            (Decays(name, p) ? decay : noDecay).Add((name, p));
        }
        return (decay, noDecay);
    }
}
