using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Model;

/// <summary>Token ids [B, T] → rows of <c>weight</c> [vocab, dim] → [B, T, dim].</summary>
public sealed class FrozenEmbedding : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;

    public FrozenEmbedding(Parameter weight) : base(nameof(FrozenEmbedding))
    {
        this.weight = weight;
        RegisterComponents();
    }

    public Tensor Weight => weight;

    public override Tensor forward(Tensor ids) =>
        weight.index_select(0, ids.flatten()).view(ids.shape[0], ids.shape[1], weight.shape[1]);
}
