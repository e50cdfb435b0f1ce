using System.Runtime.InteropServices;

namespace LlamaAdapter.Core.Native;

/// <summary>
/// struct llama_context_params of the pinned libllama (node-llama-cpp 3.22.1's build, which reports llama.cpp release
/// "v0.5.0"), 160 bytes, passed and returned by value. Read off the binary as <see cref="LlamaModelParams"/> was:
/// <c>llama_context_default_params</c> stores the image in <see cref="LlamaApi.ExpectedContextDefaults"/>. It opens like
/// upstream llama.h (n_ctx 512, n_batch 2048, n_ubatch 512, n_seq_max 1) and, from the rope_scaling_type /
/// pooling_type / attention_type / flash_attn_type block (four -1s at 0x28) on, matches upstream's order and defaults
/// exactly: rope/YaRN floats (0, 0, -1, -1, -1, -1), yarn_orig_ctx 0, defrag_thold -1, cb_eval and its data (null),
/// type_k and type_v (1 = F16) at 0x68, abort_callback and its data, then the bool block at 0x80 (embeddings false,
/// offload_kqv, no_perf, op_offload, swa_full true, kv_unified false) and three null words upstream adds later
/// (backend samplers). Between n_seq_max and rope_scaling_type this build holds six ints (0, 0, 1, 4, 4, 0) where
/// upstream has n_threads and n_threads_batch; they are left alone (threads are set with llama_set_n_threads).
/// Only the fields below are named; the defaults are checked byte for byte before use.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
internal unsafe struct LlamaContextParams
{
    public const int Size = 160;
    [FieldOffset(0)] public fixed byte Raw[Size];
    [FieldOffset(0x00)] public uint NCtx;
    [FieldOffset(0x04)] public uint NBatch;
    [FieldOffset(0x08)] public uint NUbatch;
    [FieldOffset(0x0c)] public uint NSeqMax;
    [FieldOffset(0x34)] public int FlashAttnType; // enum llama_flash_attn_type: -1 auto, 0 disabled, 1 enabled
    [FieldOffset(0x68)] public GgmlType TypeK;
    [FieldOffset(0x6c)] public GgmlType TypeV;
}

/// <summary>struct llama_batch (llama.h), 56 bytes on x86-64.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct LlamaBatch
{
    public int NTokens;
    public int* Token;
    public float* Embd;
    public int* Pos;
    public int* NSeqId;
    public int** SeqId;
    public sbyte* Logits;
}

/// <summary>The libllama context API: create a context over a loaded model, decode tokens, read logits.</summary>
internal static unsafe partial class LlamaApi
{
    [LibraryImport(GgmlLibrary.Llama)] public static partial LlamaContextParams llama_context_default_params();
    [LibraryImport(GgmlLibrary.Llama)] public static partial IntPtr llama_init_from_model(IntPtr model, LlamaContextParams p);
    [LibraryImport(GgmlLibrary.Llama)] public static partial void llama_free(IntPtr ctx);
    [LibraryImport(GgmlLibrary.Llama)] public static partial void llama_set_n_threads(IntPtr ctx, int nThreads, int nThreadsBatch);
    [LibraryImport(GgmlLibrary.Llama)] public static partial uint llama_n_ctx(IntPtr ctx);
    [LibraryImport(GgmlLibrary.Llama)] public static partial LlamaBatch llama_batch_get_one(int* tokens, int nTokens);
    [LibraryImport(GgmlLibrary.Llama)] public static partial LlamaBatch llama_batch_init(int nTokens, int embd, int nSeqMax);
    [LibraryImport(GgmlLibrary.Llama)] public static partial void llama_batch_free(LlamaBatch batch);
    /// <returns>0 on success, 1 when no KV slot was found, negative on error.</returns>
    [LibraryImport(GgmlLibrary.Llama)] public static partial int llama_decode(IntPtr ctx, LlamaBatch batch);
    /// <summary>Logits of the i-th output of the last decode (negative i counts from the end); null when i is invalid.</summary>
    [LibraryImport(GgmlLibrary.Llama)] public static partial float* llama_get_logits_ith(IntPtr ctx, int i);

    /// <summary>The bytes the pinned <c>llama_context_default_params</c> returns (0x86-0x87 are padding it does not write).</summary>
    internal static ReadOnlySpan<byte> ExpectedContextDefaults =>
    [
        0x00, 0x02, 0, 0, 0x00, 0x08, 0, 0, 0x00, 0x02, 0, 0, 1, 0, 0, 0,             // n_ctx 512, n_batch 2048, n_ubatch 512, n_seq_max 1
        0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0,                               // this build's ints (0, 0, 1, 4)
        4, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,       // (4, 0), rope_scaling_type, pooling_type -1
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0,       // attention_type, flash_attn_type -1; rope base, scale 0
        0, 0, 0x80, 0xBF, 0, 0, 0x80, 0xBF, 0, 0, 0x80, 0xBF, 0, 0, 0x80, 0xBF,       // YaRN ext, attn, beta_fast, beta_slow -1.0f
        0, 0, 0, 0, 0, 0, 0x80, 0xBF, 0, 0, 0, 0, 0, 0, 0, 0,                         // yarn_orig_ctx 0, defrag_thold -1.0f, cb_eval
        0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0,                               // cb_eval_user_data, type_k F16, type_v F16
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                               // abort_callback, abort_callback_data
        0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                               // the bools; null
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                               // nulls
    ];

    /// <summary>llama_context_default_params, checked against the image the layout was read from.</summary>
    public static LlamaContextParams DefaultContextParams()
    {
        var p = llama_context_default_params();
        var actual = new ReadOnlySpan<byte>(p.Raw, LlamaContextParams.Size);
        var expected = ExpectedContextDefaults;
        bool same = actual[..0x86].SequenceEqual(expected[..0x86]) && actual[0x88..].SequenceEqual(expected[0x88..]);
        if (!same)
            throw new GgmlException(
                $"libllama's llama_context_default_params returned {Convert.ToHexString(actual)}, not the defaults of the pinned runtime " +
                $"this binding's struct layout was read from ({Convert.ToHexString(expected)}): {GgmlLibrary.Directory} holds another libllama; " +
                "update LlamaContextParams");
        return p;
    }
}

/// <summary>A llama_context*, freed with llama_free.</summary>
internal sealed class LlamaContextHandle() : SafeHandle(IntPtr.Zero, ownsHandle: true)
{
    public LlamaContextHandle(IntPtr ctx) : this() => SetHandle(ctx);
    public override bool IsInvalid => handle == IntPtr.Zero;
    protected override bool ReleaseHandle() { LlamaApi.llama_free(handle); return true; }
}
