using Cocona;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Inference.Adapters;
using LlamaAdapter.Inference.Model;

namespace LlamaAdapter.Cli.Commands;

/// <summary>Which model, adapter and tokenizer to run and how: the options <c>generate</c> and <c>chat</c> share.</summary>
public sealed record EngineParameters(
    [Option('m', Description = "A llama.cpp LLaMA GGUF (F32, F16, BF16, Q8_0, Q4_0, K-quants)")] string Model,
    [Option("adapter", Description = "Adapter GGUF written by 'convert' for this base model (docs/adapter-gguf.md)")] string? Adapter = null,
    [Option("lora", Description = "LoRA GGUF in llama.cpp's convention (convert --base of a LoRA run), applied in the graph")] string? Lora = null,
    [Option("lora-scale", Description = "Multiplier on the LoRA update (llama.cpp's --lora-scaled)")] float LoraScale = 1f,
    [Option("tokenizer", Description = "SentencePiece tokenizer.model or GGUF with tokenizer metadata (default: the model's own)")] string? Tokenizer = null,
    [Option("ctx", Description = "Context positions to allocate (default: the model's context length)")] int? Ctx = null,
    [Option("threads", Description = "CPU threads (default: all cores)")] int? Threads = null,
    [Option("cache-type", Description = "KV cache type: f16 (as llama.cpp) or f32")] string CacheType = "f16",
    [Option("no-bos", Description = "Do not put BOS before the prompt")] bool NoBos = false,
    [Option("gpu-layers", Description = GpuOffloadOption.LayersHelp)] int GpuLayers = 0,
    [Option("gpu", Description = GpuOffloadOption.DeviceHelp)] string? Gpu = null,
    [Option("no-repack", Description = GpuOffloadOption.NoRepackHelp)] bool NoRepack = false) : ICommandParameterSet
{
    /// <summary>Loads the tokenizer, model and adapter and opens a session over them.</summary>
    public LoadedEngine Open()
    {
        if (Threads is < 1) throw new UserException($"--threads: expected >= 1, got {Threads}");
        var kvType = CacheType switch
        {
            "f16" => GgmlType.F16,
            "f32" => GgmlType.F32,
            _ => throw new UserException($"--cache-type: expected f16 or f32, got '{CacheType}'"),
        };
        var offload = GpuOffloadOption.Parse(GpuLayers, Gpu);
        var tok = TokenizerLoader.ForModel(Model, Tokenizer);
        var model = GgmlLlamaModel.Load(Model, Threads, offload, GpuOffloadOption.Repack(NoRepack));
        GgmlPromptAdapter? adapter = null;
        GgmlLoraAdapter? lora = null;
        try
        {
            if (tok.VocabSize != model.Config.VocabSize)
                throw new UserException($"{Tokenizer ?? Model}: the tokenizer has {tok.VocabSize} pieces; the model has a vocabulary of {model.Config.VocabSize}");
            int size = Ctx ?? model.Config.ContextLength;
            if (size < 1 || size > model.Config.ContextLength)
                throw new UserException($"--ctx: expected 1..{model.Config.ContextLength} (the model's context length), got {size}");
            adapter = Adapter is null ? null : GgmlPromptAdapter.Load(Adapter, model);
            lora = Lora is null ? null : GgmlLoraAdapter.Load(Lora, model, LoraScale);
            return new LoadedEngine(tok, model, adapter, lora, new LlamaSession(model, adapter, size, kvType, lora));
        }
        catch
        {
            lora?.Dispose();
            adapter?.Dispose();
            model.Dispose();
            throw;
        }
    }
}

/// <summary>A tokenizer, model, optional adapters and one session over them, disposed together.</summary>
public sealed class LoadedEngine(ITokenizer tokenizer, GgmlLlamaModel model, GgmlPromptAdapter? adapter, GgmlLoraAdapter? lora, LlamaSession session) : IDisposable
{
    public ITokenizer Tokenizer => tokenizer;
    public LlamaSession Session => session;

    public void Dispose()
    {
        session.Dispose();
        lora?.Dispose();
        adapter?.Dispose();
        model.Dispose();
    }
}
