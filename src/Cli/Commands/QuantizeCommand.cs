using System.Diagnostics;
using Cocona;
using Cocona.Application;
using LlamaAdapter.Convert;
using Spectre.Console;

namespace LlamaAdapter.Cli.Commands;

/// <remarks>Cocona's app context comes from the constructor: as a method parameter it would show up in --help as an option.</remarks>
public sealed class QuantizeCommand(ICoconaAppContextAccessor appContext)
{
    private CancellationToken Cancellation => appContext.Current?.CancellationToken ?? CancellationToken.None;

    [Command("quantize", Description = "Re-quantize a LLaMA GGUF (any type ggml can read) to another type, keeping its metadata. " +
                                       "Example: llama-adapter quantize llama-2-7b.F16.gguf llama-2-7b.Q4_K.gguf Q4_K")]
    public int Quantize(
        [Argument(Description = "LLaMA GGUF model to read")] string input,
        [Argument(Description = "GGUF file to write (appears only when complete)")] string output,
        [Argument(Description = "F32, F16, BF16, Q8_0, Q4_0, Q4_K (=Q4_K_M), Q5_K (=Q5_K_M) or Q6_K")] string type,
        [Option(Description = "Print each tensor as it is written")] bool verbose = false)
    {
        if (!File.Exists(input)) throw new UserException($"{input}: no such file; expected a LLaMA GGUF model");
        var options = new ConvertOptions(OutputType.Parse(type), Log: verbose ? s => Console.WriteLine(s) : null);
        var sw = Stopwatch.StartNew();
        ModelConverter.Convert(input, output, options, Cancellation);
        AnsiConsole.MarkupLineInterpolated($"wrote [green]{output}[/] ({options.Type}, {new FileInfo(output).Length / 1048576.0:0.0} MiB) in {sw.Elapsed.TotalSeconds:0.0} s");
        return 0;
    }
}
