using System.Globalization;
using Cocona;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Inference.Adapters;
using LlamaAdapter.Inference.Generation;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Inference.Sampling;

namespace LlamaAdapter.Cli.Commands;

public sealed class GenerateCommand
{
    [Command("generate", Description = "Generate text with our ggml engine from a llama.cpp LLaMA GGUF, optionally with a prompt adapter. Example: llama-adapter generate -m llama-2-7b.Q8_0.gguf --adapter nonlinear.adapter.gguf -p \"Tell me about alpacas.\" --temp 0")]
    public int Generate(
        [Option('m', Description = "A llama.cpp LLaMA GGUF (F32, F16, BF16, Q8_0, Q4_0, K-quants)")] string model,
        [Option('p', Description = "The prompt text")] string prompt,
        [Option(Description = "Adapter GGUF written by 'convert' for this base model (docs/adapter-gguf.md)")] string? adapter = null,
        [Option(Description = "SentencePiece tokenizer.model or GGUF with tokenizer metadata (default: the model's own)")] string? tokenizer = null,
        [Option("max-tokens", Description = "Tokens to generate at most")] int maxTokens = 256,
        [Option(Description = "Temperature; 0 = greedy")] float temp = 0.8f,
        [Option("top-k", Description = "Keep the k most likely tokens (0 = off)")] int topK = 40,
        [Option("top-p", Description = "Keep the smallest set reaching this probability (1 = off)")] float topP = 0.95f,
        [Option("min-p", Description = "Drop tokens below this fraction of the best one's probability (0 = off)")] float minP = 0.05f,
        [Option("repeat-penalty", Description = "Penalty for tokens among the last --repeat-last-n (1 = off)")] float repeatPenalty = 1.0f,
        [Option("repeat-last-n", Description = "How many recent tokens the repetition penalty looks at")] int repeatLastN = 64,
        [Option(Description = "Sampling seed (default: a random one, printed to stderr)")] ulong? seed = null,
        [Option(Description = "Stop when this text appears (not printed); repeatable")] string[]? stop = null,
        [Option(Description = "Context positions to allocate (default: the model's context length)")] int? ctx = null,
        [Option(Description = "CPU threads (default: all cores)")] int? threads = null,
        [Option("cache-type", Description = "KV cache type: f16 (as llama.cpp) or f32")] string cacheType = "f16",
        [Option("no-bos", Description = "Do not put BOS before the prompt")] bool noBos = false)
    {
        if (maxTokens < 0) throw new UserException($"--max-tokens: expected >= 0, got {maxTokens}");
        if (threads is < 1) throw new UserException($"--threads: expected >= 1, got {threads}");
        var kvType = cacheType switch
        {
            "f16" => GgmlType.F16,
            "f32" => GgmlType.F32,
            _ => throw new UserException($"--cache-type: expected f16 or f32, got '{cacheType}'"),
        };
        ulong actualSeed = seed ?? (ulong)Random.Shared.NextInt64();
        SamplingOptions sampling;
        try
        {
            sampling = new SamplingOptions(temp, topK, topP, minP, repeatPenalty, repeatLastN, actualSeed).Validate();
        }
        catch (ArgumentException e) { throw new UserException(e.Message); }

        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (cts.IsCancellationRequested) return; // a second Ctrl-C ends the process
            e.Cancel = true;
            cts.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var tok = TokenizerLoader.ForModel(model, tokenizer);
            using var llama = GgmlLlamaModel.Load(model, threads);
            if (tok.VocabSize != llama.Config.VocabSize)
                throw new UserException($"{tokenizer ?? model}: the tokenizer has {tok.VocabSize} pieces; the model has a vocabulary of {llama.Config.VocabSize}");
            int size = ctx ?? llama.Config.ContextLength;
            if (size < 1 || size > llama.Config.ContextLength)
                throw new UserException($"--ctx: expected 1..{llama.Config.ContextLength} (the model's context length), got {size}");
            using var prompts = adapter is null ? null : GgmlPromptAdapter.Load(adapter, llama);
            using var session = new LlamaSession(llama, prompts, size, kvType);
            if (seed is null && temp > 0) Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"seed: {actualSeed}"));

            var options = new GenerationOptions(maxTokens, stop ?? [], AddBos: !noBos) { Sampling = sampling };
            var stdout = Console.Out;
            var result = new TextGenerator(session, tok).Generate(prompt, options, text => { stdout.Write(text); stdout.Flush(); }, cts.Token);
            stdout.WriteLine();
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[{result.PromptTokens.Count} prompt tokens, {result.Tokens.Count} generated, stopped: {result.Reason}]"));
            return 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }
}
