using System.Globalization;
using System.Text.Json;
using Cocona;
using LlamaAdapter.Core.Formats;
using Spectre.Console;

namespace LlamaAdapter.Cli.Commands;

public sealed class InspectCommand
{
    [Command("inspect", Description = "List a model file's metadata and tensors (GGUF, safetensors file or directory, Meta checkpoint directory). Example: llama-adapter inspect model.gguf")]
    public int Inspect(
        [Argument(Description = "GGUF file, .safetensors file, HF model directory or Meta checkpoint directory")] string file,
        [Option(Description = "Print JSON instead of tables")] bool json = false,
        [Option(Description = "Show at most this many tensors in the table (0: all)")] int maxTensors = 0)
    {
        var s = ModelInspection.Open(file);
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                path = s.Path,
                format = s.Format.ToString(),
                shapeOrder = s.ShapeOrder,
                totalBytes = s.TotalBytes,
                totalElements = s.TotalElements,
                config = s.Config,
                configNote = s.ConfigNote,
                metadata = s.Metadata,
                tensors = s.Tensors,
            }, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
            return 0;
        }

        AnsiConsole.MarkupLineInterpolated($"[bold]{s.Path}[/]  {s.Format}  {s.Tensors.Count} tensors, {s.TotalElements:N0} elements, {Size(s.TotalBytes)}");
        if (s.Config is { } c)
            AnsiConsole.MarkupLineInterpolated($"LLaMA: dim {c.Dim}, layers {c.NLayers}, heads {c.NHeads} (kv {c.NKvHeads}), ffn {c.FfnDim}, vocab {c.VocabSize}, rope θ {c.RopeTheta.ToString(CultureInfo.InvariantCulture)}, eps {c.NormEps.ToString(CultureInfo.InvariantCulture)}, context {c.ContextLength}");
        else if (s.ConfigNote is { } note)
            AnsiConsole.MarkupLineInterpolated($"[grey]no LLaMA configuration: {note}[/]");

        if (s.Metadata.Count > 0)
        {
            var mt = new Table().AddColumns("key", "type", "value");
            foreach (var m in s.Metadata) mt.AddRow(Markup.Escape(m.Key), Markup.Escape(m.Type), Markup.Escape(Shorten(m.Value)));
            AnsiConsole.Write(mt);
        }

        var tt = new Table().AddColumns("name", "type", $"shape ({s.ShapeOrder})").AddColumn(new TableColumn("bytes").RightAligned());
        var shown = maxTensors > 0 ? s.Tensors.Take(maxTensors) : s.Tensors;
        foreach (var t in shown)
            tt.AddRow(Markup.Escape(t.Name), t.Type, $"[[{string.Join(", ", t.Shape)}]]", t.Bytes.ToString("N0", CultureInfo.InvariantCulture));
        AnsiConsole.Write(tt);
        if (maxTensors > 0 && s.Tensors.Count > maxTensors)
            AnsiConsole.MarkupLineInterpolated($"[grey]… {s.Tensors.Count - maxTensors} more (--max-tensors 0 shows all)[/]");
        return 0;
    }

    private static string Shorten(string v) => v.Length <= 120 ? v : v[..117] + "…";

    private static string Size(long b) => b switch
    {
        >= 1L << 30 => $"{b / (double)(1L << 30):F2} GiB",
        >= 1L << 20 => $"{b / (double)(1L << 20):F1} MiB",
        _ => $"{b / 1024.0:F1} KiB",
    };
}
