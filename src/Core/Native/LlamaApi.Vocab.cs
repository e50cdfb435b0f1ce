using System.Runtime.InteropServices;

namespace LlamaAdapter.Core.Native;

/// <summary>
/// struct llama_model_params of the pinned libllama (node-llama-cpp 3.22.1's build), 80 bytes, passed and returned by
/// value (on the stack). Its llama.h is not in that package, so the layout was read off the binary itself:
/// <c>llama_model_default_params</c> stores the image in <see cref="LlamaApi.ExpectedDefaults"/> (two null pointers,
/// five ints from 0x10 (-1, 1, -1, 1, 0; the first is n_gpu_layers), four null pointers from 0x28, a bool block at 0x48
/// with one true at 0x4a), and
/// <c>llama_model_load</c> tests the byte at 0x48 right after printing the vocabulary and skips the tensors when it is
/// set, which is llama.cpp's <c>if (params.vocab_only)</c>. Only those two fields are named; the defaults are checked
/// byte for byte before use, so a different runtime is refused instead of misread.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
internal unsafe struct LlamaModelParams
{
    public const int Size = 80;
    [FieldOffset(0)] public fixed byte Raw[Size];
    [FieldOffset(0x10)] public int NGpuLayers;
    [FieldOffset(0x48)] public byte VocabOnly; // C bool
}

/// <summary>enum llama_token_attr (bit flags).</summary>
[Flags]
internal enum LlamaTokenAttr
{
    Undefined = 0,
    Unknown = 1 << 0,
    Unused = 1 << 1,
    Normal = 1 << 2,
    Control = 1 << 3,
    UserDefined = 1 << 4,
    Byte = 1 << 5,
}

/// <summary>
/// The libllama (llama.h) functions the tokenizer needs: load a GGUF's vocabulary only, tokenize, render pieces.
/// libllama is the independent reference our tokenizer is checked against.
/// </summary>
internal static unsafe partial class LlamaApi
{
    static LlamaApi() => GgmlLibrary.EnsureResolver();

    [LibraryImport(GgmlLibrary.Llama)] public static partial void llama_backend_init();
    [LibraryImport(GgmlLibrary.Llama)] public static partial LlamaModelParams llama_model_default_params();
    [LibraryImport(GgmlLibrary.Llama, StringMarshalling = StringMarshalling.Utf8)]
    public static partial IntPtr llama_model_load_from_file(string pathModel, LlamaModelParams p);
    [LibraryImport(GgmlLibrary.Llama)] public static partial void llama_model_free(IntPtr model);
    [LibraryImport(GgmlLibrary.Llama)] public static partial IntPtr llama_model_get_vocab(IntPtr model);

    [LibraryImport(GgmlLibrary.Llama)] public static partial int llama_vocab_n_tokens(IntPtr vocab);
    [LibraryImport(GgmlLibrary.Llama)] public static partial int llama_vocab_bos(IntPtr vocab);
    [LibraryImport(GgmlLibrary.Llama)] public static partial int llama_vocab_eos(IntPtr vocab);
    [LibraryImport(GgmlLibrary.Llama)] public static partial int llama_vocab_pad(IntPtr vocab);
    [LibraryImport(GgmlLibrary.Llama)] public static partial byte llama_vocab_get_add_bos(IntPtr vocab);
    [LibraryImport(GgmlLibrary.Llama)] public static partial byte llama_vocab_get_add_eos(IntPtr vocab);
    [LibraryImport(GgmlLibrary.Llama)] public static partial LlamaTokenAttr llama_vocab_get_attr(IntPtr vocab, int token);
    [LibraryImport(GgmlLibrary.Llama)] public static partial float llama_vocab_get_score(IntPtr vocab, int token);
    [LibraryImport(GgmlLibrary.Llama)] public static partial byte* llama_vocab_get_text(IntPtr vocab, int token);

    /// <returns>The number of tokens, or minus the number needed when <paramref name="nTokensMax"/> is too small.</returns>
    [LibraryImport(GgmlLibrary.Llama)]
    public static partial int llama_tokenize(IntPtr vocab, byte* text, int textLen, int* tokens, int nTokensMax,
                                             byte addSpecial, byte parseSpecial);

    /// <returns>The number of bytes, or minus the number needed when <paramref name="length"/> is too small.</returns>
    [LibraryImport(GgmlLibrary.Llama)]
    public static partial int llama_token_to_piece(IntPtr vocab, int token, byte* buf, int length, int lstrip, byte special);

    [LibraryImport(GgmlLibrary.Llama)]
    public static partial int llama_detokenize(IntPtr vocab, int* tokens, int nTokens, byte* text, int textLenMax,
                                               byte removeSpecial, byte unparseSpecial);

    [LibraryImport(GgmlLibrary.Llama)]
    public static partial void llama_log_set(delegate* unmanaged[Cdecl]<GgmlLogLevel, byte*, IntPtr, void> callback, IntPtr userData);

    /// <summary>The bytes the pinned <c>llama_model_default_params</c> returns.</summary>
    internal static ReadOnlySpan<byte> ExpectedDefaults =>
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                 // devices, tensor_buft_overrides
        0xFF, 0xFF, 0xFF, 0xFF, 1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 1, 0, 0, 0, // n_gpu_layers = -1, split_mode = 1, -1, 1
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                 // 0 (and padding), a null pointer
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                 // null pointers
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0,                 // null pointer; vocab_only = false at 0x48, the bools
    ];

    /// <summary>llama_model_default_params, checked byte for byte against the image the layout was read from.</summary>
    public static LlamaModelParams DefaultModelParams()
    {
        var p = llama_model_default_params();
        var actual = new ReadOnlySpan<byte>(p.Raw, LlamaModelParams.Size);
        // the two padding bytes after the bool block are not written by the function: compare the 78 that are
        if (!actual[..78].SequenceEqual(ExpectedDefaults[..78]))
            throw new GgmlException(
                $"libllama's llama_model_default_params returned {Convert.ToHexString(actual[..78])}, not the defaults of the pinned " +
                $"runtime this binding's struct layout was read from ({Convert.ToHexString(ExpectedDefaults[..78])}): " +
                $"{GgmlLibrary.Directory} holds another libllama; update LlamaModelParams");
        return p;
    }
}

/// <summary>A llama_model*, freed with llama_model_free.</summary>
internal sealed class LlamaModelHandle() : SafeHandle(IntPtr.Zero, ownsHandle: true)
{
    public LlamaModelHandle(IntPtr model) : this() => SetHandle(model);
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle() { LlamaApi.llama_model_free(handle); return true; }
}
