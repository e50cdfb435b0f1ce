using LlamaAdapter.Core.Data;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Tokenizers;

namespace LlamaAdapter.Demo;

/// <summary>
/// A LLaMA-style SentencePiece vocabulary made for the demo, so nothing is downloaded: &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;,
/// the 256 byte-fallback pieces, every printable ASCII character and the newline, and one piece for each phrase that
/// recurs in the data: the Alpaca template's header and separators, and each task instruction. A BPE vocabulary
/// trained on this corpus would learn those merges; having them keeps a training sequence at about 20 tokens, so a
/// model trained from scratch in a couple of minutes learns the tasks. Written as the <c>tokenizer.ggml.*</c> keys
/// llama.cpp reads, it goes inside the demo's GGUF files, and training, the ggml engine and evaluation all tokenize
/// with it as with any LLaMA model.
/// </summary>
/// <remarks>
/// A phrase's piece is reachable only by merging left to right, so every prefix of it is a piece too, and a longer
/// piece scores higher, so a phrase's chain of merges always finishes. Phrases start with a capital letter, '\n' or
/// '▁' followed by a capital, so none of their prefixes can form inside a task's input or answer (lowercase words,
/// numbers, or all-capital words): those stay one character per token, which is what lets a model this small learn
/// to reverse or count them.
/// </remarks>
public static class DemoVocabulary
{
    public const int Unknown = 0, Bos = 1, Eos = 2;

    public static IReadOnlyList<string> Pieces { get; } = Build();

    private static List<string> Build()
    {
        var pieces = new List<string> { "<unk>", "<s>", "</s>" };
        for (int b = 0; b < 256; b++) pieces.Add($"<0x{b:X2}>");
        pieces.Add("\u2581");
        pieces.Add("\n");
        for (char c = '!'; c <= '~'; c++) pieces.Add(c.ToString());
        var seen = new HashSet<string>(pieces, StringComparer.Ordinal);
        foreach (var phrase in Phrases())
        {
            string escaped = phrase.Replace(' ', '\u2581');
            for (int n = 2; n <= escaped.Length; n++)
                if (seen.Add(escaped[..n])) pieces.Add(escaped[..n]);
        }
        return pieces;
    }

    /// <summary>The recurring text of the data: template pieces (split where the instruction, input and answer go) and the instructions.</summary>
    private static IEnumerable<string> Phrases()
    {
        const string Marker = "\u0001";
        foreach (var template in new[] { AlpacaPrompt.Format(Marker, Marker), AlpacaPrompt.Format(Marker, "") })
        {
            // "Below is … request." | "\n\n### Instruction:\n" | … ; the text starts with the space llama.cpp adds.
            var parts = (" " + template).Split(Marker);
            foreach (var part in parts)
            {
                int header = part.IndexOf('\n');
                if (header > 0) { yield return part[..header]; yield return part[header..]; }
                else if (part.Length > 0) yield return part;
            }
        }
        foreach (var instruction in SyntheticTasks.AllInstructions) yield return instruction;
    }

    /// <summary>The tokenizer keys of a llama.cpp LLaMA GGUF (model "llama", scores, types, BOS/EOS/UNK).</summary>
    public static GgufMetadata Metadata()
    {
        int n = Pieces.Count;
        var scores = new float[n];
        var types = new int[n];
        for (int i = 0; i < n; i++)
        {
            scores[i] = i < 3 ? 0 : -1000 + Pieces[i].Length;
            types[i] = (int)(i switch
            {
                Unknown => LlamaTokenType.Unknown,
                Bos or Eos => LlamaTokenType.Control,
                < 259 => LlamaTokenType.Byte,
                _ => LlamaTokenType.Normal,
            });
        }
        var md = new GgufMetadata();
        md.Set(GgufTokenizerKeys.Model, GgufValue.Of(GgufTokenizerKeys.SentencePieceModel));
        md.Set(GgufTokenizerKeys.Pre, GgufValue.Of("default"));
        md.Set(GgufTokenizerKeys.Tokens, GgufValue.Array(Pieces.ToArray()));
        md.Set(GgufTokenizerKeys.Scores, GgufValue.Array(scores));
        md.Set(GgufTokenizerKeys.TokenType, GgufValue.Array(types));
        md.Set(GgufTokenizerKeys.BosId, GgufValue.Of((uint)Bos));
        md.Set(GgufTokenizerKeys.EosId, GgufValue.Of((uint)Eos));
        md.Set(GgufTokenizerKeys.UnknownId, GgufValue.Of((uint)Unknown));
        md.Set(GgufTokenizerKeys.AddBos, GgufValue.Of(true));
        md.Set(GgufTokenizerKeys.AddEos, GgufValue.Of(false));
        return md;
    }

    public static LlamaVocabTokenizer Tokenizer() => LlamaVocabTokenizer.FromGguf(Metadata());
}
