using LlamaAdapter.Core.Data;
using LlamaAdapter.Core.Tokenizers;

namespace LlamaAdapter.Training.Pipeline;

/// <summary>
/// One training example as the model sees it: <see cref="Tokens"/> and <see cref="Labels"/> both exactly
/// max-seq-len long; padding is id 0 and label 0, the prompt is label 0, and label 0 is what the loss ignores.
/// </summary>
/// <param name="Length">Tokens before padding (after truncation): what tokens/s counts.</param>
/// <param name="Truncated">The full example was longer than max-seq-len (its EOS, maybe more, was cut).</param>
public sealed record EncodedExample(int[] Tokens, int[] Labels, int Length, bool Truncated);

/// <summary>
/// Alpaca record → (input ids, labels) as the reference fine-tuning data set builds them
/// (llama-adaptor-nonlinear alpaca_finetuning_v1/finetuning.py:36-77):
/// the prompt is encoded with BOS and no EOS, prompt+output with BOS and EOS; the example is right-padded with −1 or
/// cut to max-seq-len; the first len(prompt ids) labels become −1; then every negative id and label becomes 0.
/// Label 0 is the loss's ignore index (<see cref="CausalLmLoss"/>), so a real &lt;unk&gt; (id 0) in an answer is
/// ignored as well — the reference does the same.
/// </summary>
public sealed class AlpacaEncoder
{
    private readonly ITokenizer _tokenizer;

    public int MaxSeqLen { get; }

    public AlpacaEncoder(ITokenizer tokenizer, int maxSeqLen)
    {
        if (maxSeqLen < 2) throw new ArgumentOutOfRangeException(nameof(maxSeqLen), maxSeqLen, "max-seq-len must be at least 2 (the loss predicts token t+1 from token t)");
        _tokenizer = tokenizer;
        MaxSeqLen = maxSeqLen;
    }

    public EncodedExample Encode(AlpacaExample example)
    {
        string prompt = AlpacaPrompt.Format(example);
        int[] promptIds = _tokenizer.Encode(prompt, addBos: true, addEos: false);
        int[] exampleIds = _tokenizer.Encode(prompt + example.Output, addBos: true, addEos: true);

        int length = Math.Min(exampleIds.Length, MaxSeqLen);
        var tokens = new int[MaxSeqLen];                 // zero-filled: the pad id and the pad label are both 0
        var labels = new int[MaxSeqLen];
        for (int i = 0; i < length; i++)
        {
            int id = exampleIds[i];
            if (id < 0) throw new InvalidOperationException($"tokenizer returned the negative id {id} at position {i}");
            tokens[i] = id;
            labels[i] = i < promptIds.Length ? 0 : id;
        }
        return new EncodedExample(tokens, labels, length, exampleIds.Length > MaxSeqLen);
    }
}
