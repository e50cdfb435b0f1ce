using Cocona;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Training;
using Spectre.Console;

namespace LlamaAdapter.Cli.Commands;

public sealed class InfoCommand
{
    [Command("info", Description = "Show the native runtimes this build uses: libtorch (training) and ggml backends (inference). Example: llama-adapter info")]
    public int Info([Option(Description = "Print JSON instead of a table")] bool json = false)
    {
        var devices = GgmlLibrary.Devices();
        string torch = TorchRuntime.Describe();
        if (json)
        {
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
            {
                torch,
                ggmlDirectory = GgmlLibrary.Directory,
                ggmlDevices = devices.Select(d => new { d.Name, d.Description, Type = d.Type.ToString() }),
            }, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }
        var table = new Table().AddColumns("runtime", "device", "description");
        table.AddRow("TorchSharp", torch.Contains("CUDA") ? "cpu, cuda" : "cpu", Markup.Escape(torch));
        foreach (var d in devices)
            table.AddRow("ggml", Markup.Escape(d.Name), Markup.Escape($"{d.Description} ({d.Type})"));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"[grey]ggml runtime: {GgmlLibrary.Directory}[/]");
        return 0;
    }
}
