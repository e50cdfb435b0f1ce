using System.Diagnostics;
using Cocona;
using Cocona.Application;
using LlamaAdapter.Convert;
using LlamaAdapter.Convert.Lora;
using Spectre.Console;

namespace LlamaAdapter.Cli.Commands;

/// <remarks>Cocona's app context comes from the constructor: as a method parameter it would show up in --help as an option.</remarks>
public sealed class ConvertCommand(ICoconaAppContextAccessor appContext)
{
    private CancellationToken Cancellation => appContext.Current?.CancellationToken ?? CancellationToken.None;

    [Command("convert", Description = "Convert an HF (safetensors, sharded too) or Meta (consolidated.*.pth) LLaMA checkpoint to GGUF, " +
                                      "or with --base a trained adapter (extract .safetensors or PEFT AdaptionPrompt dir) to an adapter GGUF " +
                                      "(a LoRA to llama.cpp's LoRA GGUF), or with --merge-lora a model with a LoRA merged into its weights. " +
                                      "Examples: llama-adapter convert ./Llama-2-7b-hf llama-2-7b.Q8_0.gguf --type Q8_0; " +
                                      "llama-adapter convert adapter.safetensors adapter.gguf --base ./Llama-2-7b-hf; " +
                                      "llama-adapter convert lora.safetensors lora.gguf --base ./Llama-2-7b-hf; " +
                                      "llama-adapter convert llama-2-7b.F16.gguf merged.Q8_0.gguf --merge-lora lora.gguf --type Q8_0")]
    public int Convert(
        [Argument(Description = "Checkpoint directory (config.json + *.safetensors, or params.json + consolidated.NN.pth)")] string input,
        [Argument(Description = "GGUF file to write (appears only when complete)")] string output,
        [Option('t', Description = "F32, F16 (default), BF16, Q8_0, Q4_0, Q4_K (=Q4_K_M), Q5_K (=Q5_K_M) or Q6_K; a LoRA GGUF: F32 (default), F16 or BF16")] string? type = null,
        [Option(Description = "SentencePiece tokenizer.model (default: the one beside the checkpoint)")] string? tokenizer = null,
        [Option(Description = "general.name (default: the directory's name)")] string? name = null,
        [Option(Description = "Print each tensor as it is written")] bool verbose = false,
        [Option(Description = "Base model (HF/Meta directory or GGUF) the adapter INPUT was trained on; makes INPUT an adapter")] string? @base = null,
        [Option("merge-lora", Description = "LoRA (llama.cpp LoRA GGUF, or extract .safetensors of a LoRA run) to merge into the model INPUT: W + (alpha/r)·B·A")] string? mergeLora = null)
    {
        var sw = Stopwatch.StartNew();
        if (@base is not null && mergeLora is not null)
            throw new LlamaAdapter.Core.BadInputException("--base and --merge-lora do not go together: --base converts an adapter, --merge-lora merges a LoRA into a model");
        if (@base is not null && TrainedLora.KindOf(input) is "lora" or "bitfit")
        {
            var loraType = OutputType.Parse(type ?? "F32");   // llama.cpp's convert_lora_to_gguf defaults to f32 too
            LoraConverter.Convert(input, @base, output, loraType.WeightType, Cancellation);
            AnsiConsole.MarkupLineInterpolated($"wrote LoRA [green]{output}[/] ({loraType}, llama.cpp LoRA GGUF) in {sw.Elapsed.TotalSeconds:0.0} s");
            return 0;
        }
        if (@base is not null)
        {
            LlamaAdapter.Convert.Adapters.AdapterConverter.Convert(input, @base, output, Cancellation);
            AnsiConsole.MarkupLineInterpolated($"wrote adapter [green]{output}[/] in {sw.Elapsed.TotalSeconds:0.0} s");
            return 0;
        }
        var options = new ConvertOptions(OutputType.Parse(type ?? "F16"), name, tokenizer, Log: verbose ? s => Console.WriteLine(s) : null);
        if (mergeLora is not null) LoraMerger.Convert(input, mergeLora, output, options, Cancellation);
        else ModelConverter.Convert(input, output, options, Cancellation);
        AnsiConsole.MarkupLineInterpolated($"wrote [green]{output}[/] ({options.Type}, {new FileInfo(output).Length / 1048576.0:0.0} MiB) in {sw.Elapsed.TotalSeconds:0.0} s");
        return 0;
    }
}
