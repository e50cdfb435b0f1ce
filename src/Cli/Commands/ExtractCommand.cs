using Cocona;
using LlamaAdapter.Training.Checkpoints;
using Spectre.Console;

namespace LlamaAdapter.Cli.Commands;

public sealed class ExtractCommand
{
    [Command("extract", Description = "Write only the adapter weights of a training checkpoint, with the adapter configuration and base-model fingerprint in the safetensors metadata. Example: llama-adapter extract runs/linear --out linear.safetensors")]
    public int Extract(
        [Argument(Description = "A checkpoint-step<N>.safetensors file, or a run folder (its newest checkpoint is used)")] string checkpoint,
        [Option('o', Description = "Adapter file to write")] string @out = "adapter.safetensors")
    {
        string path = CheckpointDirectory.Resolve(checkpoint);
        var tensors = AdapterExtractor.Extract(path, @out);
        long count = tensors.Sum(t => t.Shape.Aggregate(1L, (a, d) => a * d));
        foreach (var t in tensors)
            AnsiConsole.MarkupLineInterpolated($"  {t.Name} [[{string.Join(", ", t.Shape)}]]");
        AnsiConsole.MarkupLineInterpolated($"wrote [green]{@out}[/]: {tensors.Count} tensors, {count:N0} parameters, from {path}");
        return 0;
    }
}
