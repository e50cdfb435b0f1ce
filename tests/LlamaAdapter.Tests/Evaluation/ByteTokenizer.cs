using System.Text;
using LlamaAdapter.Core.Tokenizers;

namespace LlamaAdapter.Tests.Evaluation;

/// <summary>A tiny synthetic tokenizer: BOS 1, EOS 2, each UTF-8 byte b is id 3 + b (vocab 259).</summary>
internal sealed class ByteTokenizer : ITokenizer
{
    public int VocabSize => 259;
    public int BosId => 1;
    public int EosId => 2;
    public int UnkId => -1;

    public int[] Encode(string text, bool addBos, bool addEos) =>
        [.. addBos ? [BosId] : Array.Empty<int>(), .. Encoding.UTF8.GetBytes(text).Select(b => 3 + b), .. addEos ? [EosId] : Array.Empty<int>()];

    public string Decode(ReadOnlySpan<int> ids) =>
        Encoding.UTF8.GetString(ids.ToArray().Where(i => i >= 3).Select(i => (byte)(i - 3)).ToArray());

    public string PieceText(int id) => id >= 3 ? Encoding.UTF8.GetString([(byte)(id - 3)]) : "";
}
