namespace LlamaAdapter.Core.Tokenizers;

/// <summary>
/// What training, inference and evaluation need from a tokenizer. BOS/EOS are added by the caller's choice, as
/// llama.cpp's <c>llama_tokenize(add_special)</c> and the reference code's <c>encode(s, bos, eos)</c> do — never
/// implicitly, so a prompt and its answer can be encoded piecewise.
/// </summary>
public interface ITokenizer
{
    int VocabSize { get; }
    int BosId { get; }
    int EosId { get; }
    /// <summary>The unknown-piece id, or -1 when the vocabulary has none.</summary>
    int UnkId { get; }

    int[] Encode(string text, bool addBos, bool addEos);
    string Decode(ReadOnlySpan<int> ids);
    /// <summary>The text of one piece as it appears inside a decoded string (for streaming output).</summary>
    string PieceText(int id);
}
