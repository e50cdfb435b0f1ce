using System.Globalization;
using Cocona;
using LlamaAdapter.Inference.Generation;

namespace LlamaAdapter.Cli.Commands;

public sealed class GenerateCommand
{
    [Command("generate", Description = "Generate text with our ggml engine from a llama.cpp LLaMA GGUF, optionally with a prompt adapter. Example: llama-adapter generate -m llama-2-7b.Q8_0.gguf --adapter nonlinear.adapter.gguf -p \"Tell me about alpacas.\" --temp 0")]
    public int Generate(
        EngineParameters engine,
        SamplingParameters sampling,
        [Option('p', Description = "The prompt text")] string prompt)
    {
        var options = sampling.ToOptions(addBos: !engine.NoBos);
        using var cancel = new ConsoleCancellation();
        using var loaded = engine.Open();
        var stdout = Console.Out;
        var result = new TextGenerator(loaded.Session, loaded.Tokenizer).Generate(prompt, options, text => { stdout.Write(text); stdout.Flush(); }, cancel.Token);
        stdout.WriteLine();
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[{result.PromptTokens.Count} prompt tokens, {result.Tokens.Count} generated, stopped: {result.Reason}]"));
        return 0;
    }
}
