using LlamaAdapter.Core.Config;
using LlamaAdapter.Training.Adapters;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Model;

/// <summary>
/// h = x + attention(attention_norm(x)); out = h + feed_forward(ffn_norm(h)) (NL TransformerBlock :193-197).
/// Only the token stream is normalised; prompts enter attention raw.
/// </summary>
public sealed class TransformerBlock : nn.Module
{
    private readonly RmsNorm attention_norm, ffn_norm;
    private readonly Attention attention;
    private readonly FeedForward feed_forward;

    public TransformerBlock(LlamaConfig c, WeightSource w, int layer) : base(nameof(TransformerBlock))
    {
        string p = $"layers.{layer}.";
        attention_norm = new RmsNorm(w.Take(p + "attention_norm.weight", c.Dim), c.NormEps);
        attention = new Attention(c, w, p + "attention.");
        ffn_norm = new RmsNorm(w.Take(p + "ffn_norm.weight", c.Dim), c.NormEps);
        feed_forward = new FeedForward(c, w, p + "feed_forward.");
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Rotary rotary, Tensor cos, Tensor sin, LayerPrompt? prompt)
    {
        using var scope = NewDisposeScope();
        var h = x.Plus(attention.forward(attention_norm.forward(x), rotary, cos, sin, prompt));
        return h.Plus(feed_forward.forward(ffn_norm.forward(h))).MoveToOuterDisposeScope();
    }
}
