using System.Text;
using LlamaAdapter.Core.Tokenizers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Training;

/// <summary>
/// One id per UTF-8 byte (id = 3 + byte mod (vocab − 3)); 0 = unk, 1 = BOS, 2 = EOS. Token counts are exact by
/// construction; with the full 259 ids it decodes losslessly.
/// </summary>
internal sealed class ByteTokenizer(int vocab = 259) : ITokenizer
{
    public int VocabSize => vocab;
    public int BosId => 1;
    public int EosId => 2;
    public int UnkId => 0;

    public int[] Encode(string text, bool addBos, bool addEos)
    {
        var ids = new List<int>();
        if (addBos) ids.Add(BosId);
        ids.AddRange(Encoding.UTF8.GetBytes(text).Select(b => 3 + b % (vocab - 3)));
        if (addEos) ids.Add(EosId);
        return [.. ids];
    }

    public string Decode(ReadOnlySpan<int> ids) => Encoding.UTF8.GetString(ids.ToArray().Where(i => i >= 3).Select(i => (byte)(i - 3)).ToArray());
    public string PieceText(int id) => id >= 3 ? Encoding.Latin1.GetString([(byte)(id - 3)]) : "";
}

/// <summary>
/// A tiny language model shaped like the adapter setup: frozen embeddings and output, a gated prompt term
/// h + tanh(gate)·P (so at gate 0 the prompt gets no gradient, as in zero-initialized attention), a frozen gate in
/// layer 0 and a trainable one in layer 1, and an idle 2-D adapter tensor that only weight decay moves.
/// </summary>
internal sealed class TinyGatedLm : nn.Module<Tensor, Tensor>
{
    internal sealed class Attention : nn.Module
    {
        public readonly Parameter gate;
        public Attention(int heads) : base("attention") { gate = new Parameter(zeros(1, heads, 1, 1)); RegisterComponents(); }
    }

    internal sealed class Block : nn.Module
    {
        public readonly Attention attention;
        public Block(int heads) : base("block") { attention = new Attention(heads); RegisterComponents(); }
    }

    private readonly Embedding tok_embeddings;
    private readonly Linear output;
    private readonly ModuleList<Block> layers;
    private readonly Embedding adapter_query;
    private readonly Linear adapter_proj;
    private readonly Parameter adapter_idle;

    /// <summary>Initialised from its own generator: tests run in parallel and must not share torch's global one.</summary>
    public TinyGatedLm(long seed, int vocab = 259, int dim = 8, int heads = 2, int promptLen = 3) : base("tiny")
    {
        tok_embeddings = nn.Embedding(vocab, dim);
        output = nn.Linear(dim, vocab, hasBias: false);
        layers = nn.ModuleList(new Block(heads), new Block(heads));
        adapter_query = nn.Embedding(promptLen, dim);
        adapter_proj = nn.Linear(dim, dim);
        adapter_idle = new Parameter(randn(2, 3));
        RegisterComponents();
        using var g = new Generator(unchecked((ulong)seed));
        using (no_grad())
            foreach (var (name, p) in named_parameters())
            {
                if (!name.Contains("gate")) p.copy_(randn(p.shape, generator: g));   // gates start at 0
                p.requires_grad = name.Contains("adapter") || name.StartsWith("layers.1.", StringComparison.Ordinal);
            }
    }

    public override Tensor forward(Tensor ids)
    {
        var h = tok_embeddings.forward(ids);                                        // [B, T, D]
        var prompt = adapter_proj.forward(adapter_query.weight!).mean([0]);           // [D]
        var g = layers[1].attention.gate.tanh().mean();                             // scalar
        h = h + g * prompt + 0.0 * adapter_idle.sum() + layers[0].attention.gate.sum();
        // a causal running mean so positions interact
        var counts = arange(1, ids.shape[1] + 1, dtype: ScalarType.Float32).view(1, -1, 1);
        h = h + 0.5 * h.cumsum(1) / counts;
        return output.forward(h);                                                   // [B, T, V]
    }
}

internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
