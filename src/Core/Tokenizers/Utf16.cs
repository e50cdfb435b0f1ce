using System.Text;

namespace LlamaAdapter.Core.Tokenizers;

internal static class Utf16
{
    /// <summary>
    /// The text with every lone surrogate replaced by U+FFFD: what the text becomes as UTF-8, which is how
    /// SentencePiece and llama.cpp receive it. Returns the same instance when there is nothing to replace.
    /// </summary>
    public static string WithValidSurrogates(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (!char.IsSurrogate(c)) continue;
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { i++; continue; }
            var sb = new StringBuilder(text.Length);
            foreach (var rune in text.EnumerateRunes()) sb.Append(rune.ToString()); // a lone surrogate enumerates as U+FFFD
            return sb.ToString();
        }
        return text;
    }
}
