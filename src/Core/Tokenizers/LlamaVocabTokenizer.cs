using System.Text;
using LlamaAdapter.Core.Formats.Gguf;

namespace LlamaAdapter.Core.Tokenizers;

/// <summary>
/// Our own implementation of llama.cpp's SentencePiece tokenizer (<c>llm_tokenizer_spm</c> in llama-vocab.cpp),
/// built from a GGUF's <c>tokenizer.ggml.*</c> metadata, so a converted model tokenizes exactly as llama.cpp does.
/// </summary>
/// <remarks>
/// Encode: user-defined tokens are cut out of the text first (llama.cpp does so even without parse_special);
/// every other run of text gets a leading space when it starts the text or follows such a token
/// (add_space_prefix), has ' ' replaced by U+2581, is split into characters, and adjacent symbols are merged
/// highest score first (ties: leftmost) while the merged text is a token. A symbol left that is not a token is
/// emitted as its UTF-8 bytes through the <c>&lt;0xXX&gt;</c> byte tokens. Special tokens in the text are plain text
/// (parse_special = false). Decode: see <see cref="Decode"/>.
/// Not replicated: llama.cpp's load-time overrides that re-type tokens by their text (EOT/EOG/FIM names such as
/// "&lt;|endoftext|&gt;" or "▁&lt;PRE&gt;" become CONTROL, control tokens named "unused" become UNUSED, Phi-3's rstrip):
/// none of those texts is in the LLaMA-1/2 vocabulary, where every piece renders as in libllama (tested).
/// </remarks>
public sealed class LlamaVocabTokenizer : ITokenizer
{
    private const char SpaceSymbol = '\u2581'; // '▁'

    private readonly string[] _tokens;
    private readonly float[] _scores;
    private readonly LlamaTokenType[] _types;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly int[] _byteTokens;     // byte value -> id of <0xXX> (or of the one-byte piece), -1 if none
    private readonly byte[][] _pieceBytes;  // id -> its UTF-8 rendering, as llama.cpp's token_to_piece(special = false)
    private readonly int[] _userDefined;    // user-defined ids, longest text first (llama.cpp's partition order)
    private IComparer<(float Score, int Left)> _bigramOrder = BigramOrder.Leftmost;
    private readonly string _source;

    public int VocabSize => _tokens.Length;
    public int BosId { get; }
    public int EosId { get; }
    public int UnkId { get; }
    public int PadId { get; }
    /// <summary>What llama.cpp's <c>llama_tokenize(add_special = true)</c> would add; <see cref="Encode"/> takes the caller's choice.</summary>
    public bool AddBosDefault { get; }
    public bool AddEosDefault { get; }
    public bool AddSpacePrefix { get; }

    private LlamaVocabTokenizer(string source, string[] tokens, float[] scores, LlamaTokenType[] types, int bos, int eos, int unk, int pad,
                                bool addBos, bool addEos, bool addSpacePrefix, Dictionary<string, int> ids)
    {
        _source = source;
        _tokens = tokens;
        _scores = scores;
        _types = types;
        _lookup = ids.GetAlternateLookup<ReadOnlySpan<char>>();
        BosId = bos; EosId = eos; UnkId = unk; PadId = pad;
        AddBosDefault = addBos; AddEosDefault = addEos; AddSpacePrefix = addSpacePrefix;

        _byteTokens = new int[256];
        for (int b = 0; b < 256; b++)
            _byteTokens[b] = ids.TryGetValue($"<0x{b:X2}>", out int id) ? id
                           : ids.TryGetValue(((char)b).ToString(), out id) && b < 0x80 ? id : -1;

        _pieceBytes = new byte[tokens.Length][];
        for (int i = 0; i < tokens.Length; i++) _pieceBytes[i] = RenderPiece(i);

        _userDefined = Enumerable.Range(0, tokens.Length).Where(i => types[i] == LlamaTokenType.UserDefined)
                                 .OrderByDescending(i => Encoding.UTF8.GetByteCount(tokens[i])).ToArray();
    }

    /// <summary>Builds the tokenizer from <c>tokenizer.ggml.*</c> keys, with llama.cpp's defaults for absent optional keys.</summary>
    public static LlamaVocabTokenizer FromGguf(GgufMetadata md)
    {
        ArgumentNullException.ThrowIfNull(md);
        string where = md.Source ?? "GGUF metadata";
        string model = Read(md, where, GgufTokenizerKeys.Model, () => md.GetString(GgufTokenizerKeys.Model));
        if (model != GgufTokenizerKeys.SentencePieceModel)
            throw new BadInputException($"{where}: {GgufTokenizerKeys.Model} = \"{model}\", expected \"llama\" (SentencePiece); other vocabularies are not supported");

        string[] tokens = Read(md, where, GgufTokenizerKeys.Tokens, () => md.GetArray<string>(GgufTokenizerKeys.Tokens));
        int n = tokens.Length;
        if (n == 0) throw new BadInputException($"{where}: {GgufTokenizerKeys.Tokens} is empty, expected the vocabulary");

        var scores = new float[n];
        if (md.TryGetValue(GgufTokenizerKeys.Scores, out var sv))
        {
            float[] s = sv.Raw switch
            {
                float[] f => f,
                int[] i => Array.ConvertAll(i, x => (float)x),
                _ => throw new BadInputException($"{where}: {GgufTokenizerKeys.Scores} is {Describe(sv)}, expected an array of float32 (or int32)"),
            };
            if (s.Length < n) throw new BadInputException($"{where}: {GgufTokenizerKeys.Scores} has {s.Length} entries, expected at least {n} (one per token)");
            Array.Copy(s, scores, n);
        }

        var types = new LlamaTokenType[n];
        Array.Fill(types, LlamaTokenType.Normal);
        if (md.TryGetValue(GgufTokenizerKeys.TokenType, out var tv))
        {
            if (tv.Raw is not int[] t) throw new BadInputException($"{where}: {GgufTokenizerKeys.TokenType} is {Describe(tv)}, expected an array of int32");
            if (t.Length < n) throw new BadInputException($"{where}: {GgufTokenizerKeys.TokenType} has {t.Length} entries, expected at least {n} (one per token)");
            for (int i = 0; i < n; i++) types[i] = t[i] is >= 0 and <= 6 ? (LlamaTokenType)t[i] : LlamaTokenType.Undefined;
        }

        var ids = new Dictionary<string, int>(n, StringComparer.Ordinal);
        for (int i = 0; i < n; i++)
        {
            if (tokens[i].Length == 0) tokens[i] = $"[EMPTY_{i}]"; // as llama.cpp does, so the id stays addressable
            if (!ids.TryAdd(tokens[i], i))
                throw new BadInputException($"{where}: {GgufTokenizerKeys.Tokens}[{i}] '{tokens[i]}' duplicates token {ids[tokens[i]]} (tokens must be unique)");
        }

        int bos = SpecialId(md, where, GgufTokenizerKeys.BosId, 1, n);
        int eos = SpecialId(md, where, GgufTokenizerKeys.EosId, 2, n);
        int unk = SpecialId(md, where, GgufTokenizerKeys.UnknownId, 0, n);
        int pad = SpecialId(md, where, GgufTokenizerKeys.PaddingId, -1, n);
        bool addBos = Flag(md, where, GgufTokenizerKeys.AddBos, true);
        bool addEos = Flag(md, where, GgufTokenizerKeys.AddEos, false);
        bool addSpace = Flag(md, where, GgufTokenizerKeys.AddSpacePrefix, true);
        if (addBos && bos < 0) throw new BadInputException($"{where}: {GgufTokenizerKeys.AddBos} is true, but {GgufTokenizerKeys.BosId} is not set");
        if (addEos && eos < 0) throw new BadInputException($"{where}: {GgufTokenizerKeys.AddEos} is true, but {GgufTokenizerKeys.EosId} is not set");
        return new LlamaVocabTokenizer(where, tokens, scores, types, bos, eos, unk, pad, addBos, addEos, addSpace, ids);
    }

    public static LlamaVocabTokenizer FromSentencePiece(SentencePieceModel model) => FromGguf(GgufTokenizerMetadata.FromSentencePiece(model));

    /// <summary>The tokenizer of a GGUF file (a model or a vocab-only file); only the header is read.</summary>
    public static LlamaVocabTokenizer FromGgufFile(string path)
    {
        using var reader = GgufReader.Open(path);
        return FromGguf(reader.Metadata);
    }

    /// <summary>
    /// A copy that breaks score ties between overlapping pairs rightmost-first, as Microsoft.ML.Tokenizers 2.0.1
    /// does (its SymbolPair.CompareTo orders equal scores by descending left index), where SentencePiece and llama.cpp
    /// take the leftmost. Only for tests: it shows that this order is the only difference from ML.Tokenizers.
    /// </summary>
    internal LlamaVocabTokenizer WithRightmostTieBreak() =>
        new(_source, _tokens, _scores, _types, BosId, EosId, UnkId, PadId, AddBosDefault, AddEosDefault, AddSpacePrefix,
            new Dictionary<string, int>(Enumerable.Range(0, _tokens.Length).Select(i => KeyValuePair.Create(_tokens[i], i)), StringComparer.Ordinal))
        { _bigramOrder = BigramOrder.Rightmost };

    public string TokenText(int id) => _tokens[CheckId(id)];
    public float TokenScore(int id) => _scores[CheckId(id)];
    public LlamaTokenType TokenType(int id) => _types[CheckId(id)];

    public int[] Encode(string text, bool addBos, bool addEos)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (addBos && BosId < 0) throw new InvalidOperationException("this vocabulary has no BOS token");
        if (addEos && EosId < 0) throw new InvalidOperationException("this vocabulary has no EOS token");
        var output = new List<int>(text.Length / 3 + 2);
        if (addBos) output.Add(BosId);

        // Lone surrogates become U+FFFD, as they do when a .NET string is handed to llama.cpp as UTF-8.
        string clean = Utf16.WithValidSurrogates(text);
        bool prevSpecial = true; // the first run of text gets the space prefix
        foreach (var (start, length, token) in Partition(clean))
        {
            if (token >= 0)
            {
                output.Add(token);
                prevSpecial = true;
                continue;
            }
            var run = clean.AsSpan(start, length);
            var sb = new StringBuilder(length + 1);
            if (AddSpacePrefix && prevSpecial) sb.Append(SpaceSymbol);
            foreach (char c in run) sb.Append(c == ' ' ? SpaceSymbol : c);
            new SpmSession(this).Tokenize(sb.ToString(), output);
            prevSpecial = false;
        }

        if (addEos) output.Add(EosId);
        return output.ToArray();
    }

    /// <summary>
    /// The text of the ids: llama.cpp's <c>llama_detokenize(remove_special = false, unparse_special = false)</c> —
    /// pieces with U+2581 as ' ', byte tokens as their bytes, control and unknown tokens as nothing, the bytes
    /// decoded as UTF-8 (invalid sequences become U+FFFD) — with one deliberate difference: the single space
    /// that add_space_prefix put in front of the text is removed from the first piece that renders anything, not
    /// from the first id. So [BOS, ▁Hello] decodes to "Hello", as SentencePiece (the reference code's
    /// tokenizer) and <see cref="SpmTokenizer"/> do, where llama.cpp gives " Hello" (its BOS uses up the strip).
    /// Ids whose first id renders something (not a control, unknown or unused token) decode exactly as in llama.cpp.
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var bytes = new List<byte>(ids.Length * 4);
        bool strip = AddSpacePrefix;
        foreach (int id in ids)
        {
            var piece = _pieceBytes[CheckId(id)];
            if (piece.Length == 0) continue;
            int skip = strip && piece[0] == (byte)' ' ? 1 : 0;
            strip = false;
            for (int i = skip; i < piece.Length; i++) bytes.Add(piece[i]);
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    /// <summary>
    /// llama.cpp's <c>llama_token_to_piece(lstrip = 0, special = false)</c> as a string. A byte token of a
    /// multi-byte character is not text on its own and comes back as U+FFFD: streaming output should collect
    /// <see cref="PieceBytes"/> and decode complete UTF-8 sequences.
    /// </summary>
    public string PieceText(int id) => Encoding.UTF8.GetString(_pieceBytes[CheckId(id)]);

    /// <summary>The raw bytes of <see cref="PieceText"/> (one byte for a byte token).</summary>
    public ReadOnlySpan<byte> PieceBytes(int id) => _pieceBytes[CheckId(id)];

    private byte[] RenderPiece(int id)
    {
        string text = _tokens[id];
        switch (_types[id])
        {
            case LlamaTokenType.Normal:
                return Encoding.UTF8.GetBytes(text.Replace(SpaceSymbol, ' '));
            case LlamaTokenType.UserDefined:
                return Encoding.UTF8.GetBytes(text);
            case LlamaTokenType.Byte:
                // llama.cpp reads the two hex digits at offset 3 of "<0xXX>"
                if (text.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal) && text[5] == '>'
                    && byte.TryParse(text.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte b))
                    return [b];
                throw new BadInputException($"{_source}: {GgufTokenizerKeys.Tokens}[{id}] '{text}' has type BYTE, expected its text to be <0xXX> with two hex digits");
            default:
                return []; // control, unknown, unused and undefined tokens render as nothing without special = true
        }
    }

    /// <summary>Splits the text around user-defined tokens (longest first); runs of text come back with token = -1.</summary>
    private List<(int Start, int Length, int Token)> Partition(string text)
    {
        var parts = new List<(int Start, int Length, int Token)>();
        if (text.Length == 0) return parts;
        parts.Add((0, text.Length, -1));
        foreach (int special in _userDefined)
        {
            string st = _tokens[special];
            for (int p = 0; p < parts.Count; p++)
            {
                var (start, length, token) = parts[p];
                if (token >= 0) continue;
                int at = text.AsSpan(start, length).IndexOf(st.AsSpan(), StringComparison.Ordinal);
                if (at < 0) continue;
                parts.RemoveAt(p);
                int insert = p;
                if (at > 0) parts.Insert(insert++, (start, at, -1));
                parts.Insert(insert++, (start + at, st.Length, special));
                int rest = length - at - st.Length;
                if (rest > 0) parts.Insert(insert, (start + at + st.Length, rest, -1));
                p = insert - 1; // continue with the remainder
            }
        }
        return parts;
    }

    /// <summary>One run of escaped text through llama.cpp's llm_tokenizer_spm_session.</summary>
    private readonly struct SpmSession(LlamaVocabTokenizer vocab)
    {
        private struct Symbol
        {
            public int Prev, Next;
            public int Start, Length; // in chars of the escaped text; Length = 0 once merged into its left neighbour
        }

        public void Tokenize(string text, List<int> output)
        {
            // split into characters (code points: a surrogate pair is one symbol, as UTF-8 bytes of one char are)
            var symbols = new List<Symbol>(text.Length);
            for (int offs = 0; offs < text.Length;)
            {
                int len = char.IsHighSurrogate(text[offs]) && offs + 1 < text.Length && char.IsLowSurrogate(text[offs + 1]) ? 2 : 1;
                int index = symbols.Count;
                offs += len;
                symbols.Add(new Symbol { Start = offs - len, Length = len, Prev = index - 1, Next = offs == text.Length ? -1 : index + 1 });
            }

            // highest score first; equal scores: leftmost first (llm_bigram_spm::comparator)
            var queue = new PriorityQueue<(int Left, int Right, int Size), (float Score, int Left)>(vocab._bigramOrder);
            for (int i = 1; i < symbols.Count; i++) TryAddBigram(text, symbols, queue, i - 1, i);

            while (queue.TryDequeue(out var bigram, out _))
            {
                var syms = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(symbols);
                ref var left = ref syms[bigram.Left];
                ref var right = ref syms[bigram.Right];
                // skip a pair whose symbols have changed since it was queued
                if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != bigram.Size) continue;

                left.Length += right.Length;
                right.Length = 0;
                left.Next = right.Next;
                if (right.Next >= 0) syms[right.Next].Prev = bigram.Left;

                int prev = left.Prev, next = left.Next;
                TryAddBigram(text, symbols, queue, prev, bigram.Left);
                TryAddBigram(text, symbols, queue, bigram.Left, next);
            }

            // llama.cpp's resegment() looks a non-token symbol up in rev_merge, but rev_merge only ever records
            // texts that are tokens, so that lookup never succeeds: a symbol is either a token or goes out as bytes.
            for (int i = symbols.Count == 0 ? -1 : 0; i != -1; i = symbols[i].Next)
            {
                var s = symbols[i];
                var piece = text.AsSpan(s.Start, s.Length);
                if (vocab._lookup.TryGetValue(piece, out int id)) { output.Add(id); continue; }
                foreach (byte b in Encoding.UTF8.GetBytes(piece.ToString()))
                {
                    int bt = vocab._byteTokens[b];
                    // llama.cpp aborts (std::out_of_range) on a vocabulary without byte tokens; SentencePiece emits <unk>
                    output.Add(bt >= 0 ? bt : vocab.UnkId);
                }
            }
        }

        private void TryAddBigram(string text, List<Symbol> symbols, PriorityQueue<(int, int, int), (float, int)> queue, int left, int right)
        {
            if (left == -1 || right == -1) return;
            var l = symbols[left];
            var r = symbols[right];
            var pair = text.AsSpan(l.Start, l.Length + r.Length); // right starts where left ends: it is left's next
            if (!vocab._lookup.TryGetValue(pair, out int id)) return;
            queue.Enqueue((left, right, pair.Length), (vocab._scores[id], left));
        }
    }

    private sealed class BigramOrder(bool leftmost) : IComparer<(float Score, int Left)>
    {
        public static readonly BigramOrder Leftmost = new(true);
        public static readonly BigramOrder Rightmost = new(false);

        public int Compare((float Score, int Left) a, (float Score, int Left) b)
        {
            int c = b.Score.CompareTo(a.Score); // PriorityQueue dequeues the smallest: make the highest score smallest
            if (c != 0) return c;
            return leftmost ? a.Left.CompareTo(b.Left) : b.Left.CompareTo(a.Left);
        }
    }

    private int CheckId(int id) =>
        (uint)id < (uint)_tokens.Length ? id : throw new ArgumentOutOfRangeException(nameof(id), id, $"token id out of range 0..{_tokens.Length - 1}");

    private static T Read<T>(GgufMetadata md, string where, string key, Func<T> read)
    {
        if (!md.ContainsKey(key)) throw new BadInputException($"{where}: metadata key '{key}' is missing, expected it for the tokenizer");
        try { return read(); }
        catch (InvalidDataException e) { throw new BadInputException($"{where}: {e.Message}", e); }
    }

    private static int SpecialId(GgufMetadata md, string where, string key, int fallback, int n)
    {
        if (!md.TryGetValue(key, out var v)) return fallback;
        long id;
        try { id = v.AsInt64(); }
        catch (InvalidDataException) { throw new BadInputException($"{where}: {key} is {Describe(v)}, expected a uint32 token id"); }
        if (id < 0 || id >= n) throw new BadInputException($"{where}: {key} = {id}, expected a token id in 0..{n - 1}");
        return (int)id;
    }

    private static bool Flag(GgufMetadata md, string where, string key, bool fallback)
    {
        if (!md.TryGetValue(key, out var v)) return fallback;
        return v.Raw is bool b ? b : throw new BadInputException($"{where}: {key} is {Describe(v)}, expected a bool");
    }

    private static string Describe(GgufValue v) => v.IsArray ? $"an array of {v.ElementType}" : $"a {v.Type}";
}
