using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Core.Tokenizers;

/// <summary>
/// llama.cpp's own tokenizer (libllama) over a GGUF file's vocabulary, loaded with vocab_only so no weights are read:
/// the independent reference for <see cref="LlamaVocabTokenizer"/>, and usable wherever a GGUF is at hand.
/// </summary>
/// <remarks>
/// <see cref="Encode"/> calls llama_tokenize(add_special = false, parse_special = false) and adds BOS/EOS itself, which
/// is what add_special = true does for an SPM vocabulary whose flags ask for them (the space prefix does not depend
/// on it). <see cref="Decode"/> is llama_detokenize(remove_special = false, unparse_special = false) unchanged: a leading
/// BOS uses up the one-space strip, so [BOS, ▁Hello] gives " Hello" (see <see cref="LlamaVocabTokenizer.Decode"/>).
/// </remarks>
public sealed unsafe class LlamaCppTokenizer : ITokenizer, IDisposable
{
    private static readonly Lock Gate = new();

    private readonly LlamaModelHandle _model;
    private readonly IntPtr _vocab;

    public string Path { get; }
    public int VocabSize { get; }
    public int BosId { get; }
    public int EosId { get; }
    public int UnkId { get; }
    public bool AddBosDefault { get; }
    public bool AddEosDefault { get; }

    private LlamaCppTokenizer(string path, LlamaModelHandle model)
    {
        Path = path;
        _model = model;
        _vocab = LlamaApi.llama_model_get_vocab(model.DangerousGetHandle());
        VocabSize = LlamaApi.llama_vocab_n_tokens(_vocab);
        BosId = LlamaApi.llama_vocab_bos(_vocab);
        EosId = LlamaApi.llama_vocab_eos(_vocab);
        UnkId = -1; // llama.h has no unknown-token getter: the first token with the UNKNOWN attribute
        for (int i = 0; i < VocabSize && UnkId < 0; i++)
            if ((LlamaApi.llama_vocab_get_attr(_vocab, i) & LlamaTokenAttr.Unknown) != 0) UnkId = i;
        AddBosDefault = LlamaApi.llama_vocab_get_add_bos(_vocab) != 0;
        AddEosDefault = LlamaApi.llama_vocab_get_add_eos(_vocab) != 0;
    }

    /// <summary>Loads the vocabulary of a GGUF file; a file libllama refuses is a <see cref="BadInputException"/> with its reason.</summary>
    public static LlamaCppTokenizer Load(string ggufPath)
    {
        string path = System.IO.Path.GetFullPath(ggufPath);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: GGUF file not found", path);
        LlamaLog.EnsureInitialized();
        lock (Gate)
        {
            var p = LlamaApi.DefaultModelParams();
            p.VocabOnly = 1;
            p.NGpuLayers = 0;
            LlamaLog.BeginCapture();
            IntPtr model = LlamaApi.llama_model_load_from_file(path, p);
            if (model == IntPtr.Zero)
                throw new BadInputException($"{path}: libllama could not load the vocabulary: {LlamaLog.CapturedErrors()}");
            return new LlamaCppTokenizer(path, new LlamaModelHandle(model));
        }
    }

    /// <summary>llama_tokenize(add_special, parse_special = false) exactly as libllama does it.</summary>
    public int[] Tokenize(string text, bool addSpecial)
    {
        ArgumentNullException.ThrowIfNull(text);
        byte[] utf8 = Encoding.UTF8.GetBytes(text); // lone surrogates become U+FFFD
        var ids = new int[utf8.Length + 4];
        int n;
        fixed (byte* t = utf8)
        fixed (int* o = ids)
            n = LlamaApi.llama_tokenize(_vocab, t, utf8.Length, o, ids.Length, addSpecial ? (byte)1 : (byte)0, 0);
        if (n < 0) // cannot happen (one token per byte at most, plus BOS/EOS), but never read past a short buffer
        {
            ids = new int[-n];
            fixed (byte* t = utf8)
            fixed (int* o = ids)
                n = LlamaApi.llama_tokenize(_vocab, t, utf8.Length, o, ids.Length, addSpecial ? (byte)1 : (byte)0, 0);
        }
        return ids[..n];
    }

    public int[] Encode(string text, bool addBos, bool addEos)
    {
        var body = Tokenize(text, addSpecial: false);
        return [.. addBos ? [BosId] : Array.Empty<int>(), .. body, .. addEos ? [EosId] : Array.Empty<int>()];
    }

    public string Decode(ReadOnlySpan<int> ids)
    {
        foreach (int id in ids) CheckId(id);
        var buf = new byte[ids.Length * 16 + 16];
        int n;
        fixed (int* t = ids)
        {
            fixed (byte* b = buf) n = LlamaApi.llama_detokenize(_vocab, t, ids.Length, b, buf.Length, 0, 0);
            if (n < 0)
            {
                buf = new byte[-n];
                fixed (byte* b = buf) n = LlamaApi.llama_detokenize(_vocab, t, ids.Length, b, buf.Length, 0, 0);
            }
        }
        return Encoding.UTF8.GetString(buf, 0, n);
    }

    public string PieceText(int id) => Encoding.UTF8.GetString(PieceBytes(id));

    /// <summary>llama_token_to_piece(lstrip = 0, special = false).</summary>
    public byte[] PieceBytes(int id)
    {
        CheckId(id);
        var buf = new byte[64];
        int n;
        fixed (byte* b = buf) n = LlamaApi.llama_token_to_piece(_vocab, id, b, buf.Length, 0, 0);
        if (n < 0)
        {
            buf = new byte[-n];
            fixed (byte* b = buf) n = LlamaApi.llama_token_to_piece(_vocab, id, b, buf.Length, 0, 0);
        }
        return buf[..n];
    }

    /// <summary>The token's text as stored in the vocabulary (llama_vocab_get_text).</summary>
    public string TokenText(int id) => Marshal.PtrToStringUTF8((IntPtr)LlamaApi.llama_vocab_get_text(_vocab, CheckId(id))) ?? "";
    public float TokenScore(int id) => LlamaApi.llama_vocab_get_score(_vocab, CheckId(id));

    public void Dispose() => _model.Dispose();

    // libllama aborts on an out-of-range id (id_to_token.at): check before every call that takes one.
    private int CheckId(int id)
    {
        ObjectDisposedException.ThrowIf(_model.IsClosed, this);
        return (uint)id < (uint)VocabSize ? id : throw new ArgumentOutOfRangeException(nameof(id), id, $"token id out of range 0..{VocabSize - 1}");
    }
}
