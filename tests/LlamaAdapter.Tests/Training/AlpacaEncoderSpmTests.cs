using LlamaAdapter.Core.Data;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Tests.Support;
using LlamaAdapter.Training.Pipeline;

namespace LlamaAdapter.Tests.Training;

/// <summary>The encoder with the real LLaMA-2 SentencePiece model.</summary>
public sealed class AlpacaEncoderSpmTests
{
    [SharedDataFact("tokenizer.model")]
    public void RealTokenizer_BosPromptAnswerEos_PromptMaskedByItsOwnEncoding()
    {
        var tok = SpmTokenizer.Load(RepoPaths.SharedFile("tokenizer.model"));
        var ex = new AlpacaExample("Give three tips for staying healthy.", "", "1. Eat a balanced diet.\n2. Exercise.\n3. Sleep.");
        string prompt = AlpacaPrompt.Format(ex);
        int[] promptIds = tok.Encode(prompt, addBos: true, addEos: false);
        int[] full = tok.Encode(prompt + ex.Output, addBos: true, addEos: true);
        var e = new AlpacaEncoder(tok, 512).Encode(ex);

        Assert.Equal(full.Length, e.Length);
        Assert.Equal(full, e.Tokens[..e.Length]);
        Assert.Equal(tok.BosId, e.Tokens[0]);
        Assert.Equal(tok.EosId, e.Tokens[e.Length - 1]);
        Assert.All(e.Labels[..promptIds.Length], l => Assert.Equal(0, l));
        Assert.Equal(full[promptIds.Length..], e.Labels[promptIds.Length..e.Length]);
        Assert.All(e.Tokens[e.Length..], t => Assert.Equal(0, t));
        Assert.Equal(prompt + ex.Output, tok.Decode(e.Tokens.AsSpan(1, e.Length - 2)));
    }
}
