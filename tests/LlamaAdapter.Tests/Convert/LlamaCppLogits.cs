using LlamaAdapter.Core.Native;

namespace LlamaAdapter.Tests.Convert;

/// <summary>
/// llama.cpp as the reference: libllama loads a whole GGUF model (CPU), decodes the ids one at a time through its KV
/// cache (F32 cache, flash attention off, so only the weights' type differs from float math), and hands back each
/// position's logits. With <c>lora</c>, a LoRA GGUF is loaded against the model (llama_adapter_lora_init) and set on
/// the context (llama_set_adapters_lora) with scale <c>loraScale</c> before decoding. With <c>batched</c>, the ids go
/// in as one batch (one ubatch, every position's logits), as a prompt is processed.
/// </summary>
internal static unsafe class LlamaCppLogits
{
    private static readonly Lock Gate = new();

    public static float[][] Decode(string gguf, int[] ids, int threads = 2, string? lora = null, float loraScale = 1f, bool batched = false)
    {
        LlamaLog.EnsureInitialized();
        lock (Gate)
        {
            var mp = LlamaApi.DefaultModelParams();
            mp.NGpuLayers = 0;
            IntPtr model = LlamaApi.llama_model_load_from_file(gguf, mp);
            Assert.True(model != IntPtr.Zero, $"libllama could not load {gguf}");
            using var modelHandle = new LlamaModelHandle(model);
            int vocab = LlamaApi.llama_vocab_n_tokens(LlamaApi.llama_model_get_vocab(model));
            // Declared after the model and before the context: disposed after the context, before the model.
            using var loraHandle = new LlamaLoraHandle(lora is null ? IntPtr.Zero : LlamaApi.llama_adapter_lora_init(model, lora));
            Assert.True(lora is null || !loraHandle.IsInvalid, $"libllama could not load the LoRA {lora} onto {gguf}");

            var cp = LlamaApi.DefaultContextParams();
            cp.NCtx = 256; // libllama pads n_ctx to a multiple of 256: ask for one so the round trip checks the field
            Assert.True(ids.Length <= 256);
            cp.NBatch = cp.NUbatch = cp.NCtx;
            cp.TypeK = cp.TypeV = GgmlType.F32;
            cp.FlashAttnType = 0;
            IntPtr ctx = LlamaApi.llama_init_from_model(model, cp);
            Assert.True(ctx != IntPtr.Zero, $"libllama could not create a context for {gguf}");
            using var ctxHandle = new LlamaContextHandle(ctx);
            uint nCtx = LlamaApi.llama_n_ctx(ctx);
            Assert.True(nCtx == cp.NCtx, $"asked for n_ctx {cp.NCtx}, libllama made {nCtx}");
            LlamaApi.llama_set_n_threads(ctx, threads, threads);
            if (lora is not null)
            {
                IntPtr adapter = loraHandle.DangerousGetHandle();
                Assert.Equal(0, LlamaApi.llama_set_adapters_lora(ctx, &adapter, 1, &loraScale));
            }

            var result = new float[ids.Length][];
            if (batched)
            {
                var batch = LlamaApi.llama_batch_init(ids.Length, 0, 1);
                try
                {
                    batch.NTokens = ids.Length;
                    for (int i = 0; i < ids.Length; i++)
                    {
                        batch.Token[i] = ids[i];
                        batch.Pos[i] = i;
                        batch.NSeqId[i] = 1;
                        batch.SeqId[i][0] = 0;
                        batch.Logits[i] = 1;
                    }
                    Assert.Equal(0, LlamaApi.llama_decode(ctx, batch));
                }
                finally { LlamaApi.llama_batch_free(batch); }
                for (int i = 0; i < ids.Length; i++)
                {
                    float* logits = LlamaApi.llama_get_logits_ith(ctx, i);
                    Assert.True(logits != null, $"no logits for position {i} after the batched decode");
                    result[i] = new ReadOnlySpan<float>(logits, vocab).ToArray();
                }
                return result;
            }
            for (int i = 0; i < ids.Length; i++)
            {
                int token = ids[i];
                int rc = LlamaApi.llama_decode(ctx, LlamaApi.llama_batch_get_one(&token, 1));
                Assert.Equal(0, rc);
                float* logits = LlamaApi.llama_get_logits_ith(ctx, -1);
                Assert.True(logits != null, "no logits after decode");
                result[i] = new ReadOnlySpan<float>(logits, vocab).ToArray();
            }
            return result;
        }
    }
}
