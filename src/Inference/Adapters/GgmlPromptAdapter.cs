using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Ggml;
using LlamaAdapter.Inference.Model;

namespace LlamaAdapter.Inference.Adapters;

/// <summary>How the prompt keys/values join attention (docs/adapter-gguf.md).</summary>
public enum PromptAdapterKind { Linear, Nonlinear, Prefix }

/// <summary>
/// An adapter GGUF (docs/adapter-gguf.md) loaded for a base model: per adapted block, prompt keys K_p ne [kvDim, L],
/// prompt values kept transposed V_pᵀ ne [L, kvDim] (the operand layout mul_mat wants), and the gate per head
/// (already tanh'd when the mode says so) ne [1, 1, G]. Checked against the base model before ggml sees anything.
/// </summary>
public sealed class GgmlPromptAdapter : IDisposable
{
    private readonly PlacedContexts _tensors;

    public PromptAdapterKind Kind { get; }
    public int PromptLength { get; }
    public int FirstLayer { get; }
    public string? GateMode { get; }
    internal IntPtr[] Keys { get; }
    internal IntPtr[] ValuesT { get; }
    /// <summary>Empty for prefix adapters.</summary>
    internal IntPtr[] Gates { get; }

    public bool Covers(int layer) => layer >= FirstLayer && layer - FirstLayer < Keys.Length;

    private GgmlPromptAdapter(PromptAdapterKind kind, int length, int first, string? gateMode, PlacedContexts tensors,
        IntPtr[] keys, IntPtr[] valuesT, IntPtr[] gates)
    {
        (Kind, PromptLength, FirstLayer, GateMode, _tensors) = (kind, length, first, gateMode, tensors);
        (Keys, ValuesT, Gates) = (keys, valuesT, gates);
    }

    public static unsafe GgmlPromptAdapter Load(string path, GgmlLlamaModel model)
    {
        using var reader = GgufReader.Open(path);
        var md = reader.Metadata;
        var cfg = model.Config;
        BadInputException Bad(string key, string expected, string? found) =>
            new($"{path}: metadata '{key}': expected {expected}, found {found ?? "nothing (missing)"}");
        string Str(string key) => md.TryGetValue(key, out var v) && v.Type == GgufValueType.String ? v.AsString()
            : throw Bad(key, "a string", md.TryGetValue(key, out var f) ? f.ToString() : null);
        long Int(string key) => md.TryGetValue(key, out var v) && !v.IsArray && v.Type is not (GgufValueType.String or GgufValueType.Bool
            or GgufValueType.Float32 or GgufValueType.Float64) ? v.AsInt64()
            : throw Bad(key, "an integer", md.TryGetValue(key, out var f) ? f.ToString() : null);
        void Expect(string key, long want) { long got = Int(key); if (got != want) throw Bad(key, $"{want} (the base model's)", got.ToString()); }

        if (Str("general.type") != "adapter") throw Bad("general.type", "\"adapter\"", Str("general.type"));
        if (Str("adapter.type") != "llama_adapter_prompt") throw Bad("adapter.type", "\"llama_adapter_prompt\"", Str("adapter.type"));
        var kind = Str("llama_adapter.kind") switch
        {
            "linear" => PromptAdapterKind.Linear,
            "nonlinear" => PromptAdapterKind.Nonlinear,
            "prefix" => PromptAdapterKind.Prefix,
            var k => throw Bad("llama_adapter.kind", "\"linear\", \"nonlinear\" or \"prefix\"", k),
        };
        Expect("llama_adapter.base.embedding_length", cfg.Dim);
        Expect("llama_adapter.base.block_count", cfg.NLayers);
        Expect("llama_adapter.base.head_count", cfg.NHeads);
        Expect("llama_adapter.base.head_count_kv", cfg.NKvHeads);
        Expect("llama_adapter.base.vocab_size", cfg.VocabSize);
        long length = Int("llama_adapter.prompt_length");
        if (length is < 1 or > 65536) throw Bad("llama_adapter.prompt_length", "1..65536", length.ToString());
        long count = Int("llama_adapter.layer_count");
        if (count < 1 || count > cfg.NLayers) throw Bad("llama_adapter.layer_count", $"1..{cfg.NLayers}", count.ToString());
        Expect("llama_adapter.first_layer", cfg.NLayers - count);
        string? gateMode = null;
        int gateWidth = 0;
        if (kind != PromptAdapterKind.Prefix)
        {
            gateMode = Str("llama_adapter.gate_mode");
            gateWidth = gateMode switch
            {
                "per_head_tanh" or "per_head_raw" => cfg.NHeads,
                "per_layer_raw" => 1,
                _ => throw Bad("llama_adapter.gate_mode", "\"per_head_tanh\", \"per_head_raw\" or \"per_layer_raw\"", gateMode),
            };
        }

        int first = cfg.NLayers - (int)count, kvDim = cfg.KvDim, len = (int)length;
        float[] F32(string name, params long[] ne)
        {
            if (!reader.TryGetTensor(name, out var t))
                throw new BadInputException($"{path}: tensor '{name}' is missing (expected F32 ne [{string.Join(", ", ne)}])");
            if (t.Type != GgmlType.F32 || !t.Shape.SequenceEqual(ne))
                throw new BadInputException($"{path}: tensor '{name}' at byte {t.FileOffset} is {t.Type} [{string.Join(", ", t.Shape)}], " +
                                            $"expected F32 [{string.Join(", ", ne)}]");
            var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(reader.Span(t)).ToArray();
            for (int i = 0; i < values.Length; i++)
                if (!float.IsFinite(values[i]))
                    throw new BadInputException($"{path}: tensor '{name}' element {i} is {values[i]}, expected a finite number");
            return values;
        }

        // Each adapted block's keys, values and gate live beside the block (on the GPU when it is offloaded).
        var ctx = new PlacedContexts(model.Placement, tensors: 3 * (int)count);
        try
        {
            var keys = new IntPtr[count];
            var valuesT = new IntPtr[count];
            var gates = new IntPtr[kind == PromptAdapterKind.Prefix ? 0 : count];
            var host = new List<(IntPtr, float[])>();
            for (int k = 0; k < count; k++)
            {
                string p = $"blk.{first + k}.";
                IntPtr c = ctx.For(first + k).DangerousGetHandle();
                float[] kp = F32(p + "adapter_k", kvDim, len);
                float[] vp = F32(p + "adapter_v", kvDim, len);
                var vt = new float[vp.Length];                           // [L, kvDim] → [kvDim, L] row-major
                for (int j = 0; j < len; j++)
                    for (int e = 0; e < kvDim; e++) vt[e * len + j] = vp[j * kvDim + e];
                keys[k] = GgmlApi.ggml_new_tensor_2d(c, GgmlType.F32, kvDim, len);
                valuesT[k] = GgmlApi.ggml_new_tensor_2d(c, GgmlType.F32, len, kvDim);
                host.Add((keys[k], kp));
                host.Add((valuesT[k], vt));
                if (gates.Length > 0)
                {
                    float[] g = F32(p + "adapter_gate", gateWidth);
                    if (gateMode == "per_head_tanh") for (int h = 0; h < g.Length; h++) g[h] = MathF.Tanh(g[h]);
                    gates[k] = GgmlApi.ggml_new_tensor_3d(c, GgmlType.F32, 1, 1, gateWidth);
                    host.Add((gates[k], g));
                }
            }
            ctx.Allocate($"the prompt adapter {path} for the offloaded layers", weights: true);
            foreach (var (t, values) in host)
                fixed (float* pv = values) GgmlApi.ggml_backend_tensor_set(t, pv, 0, (nuint)(values.Length * sizeof(float)));
            return new GgmlPromptAdapter(kind, len, first, gateMode, ctx, keys, valuesT, gates);
        }
        catch { ctx.Dispose(); throw; }
    }

    public void Dispose()
    {
        _tensors.Dispose();
    }
}
