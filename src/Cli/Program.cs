using Cocona;
using LlamaAdapter.Cli;
using LlamaAdapter.Cli.Commands;
using Microsoft.Extensions.Logging;

var builder = CoconaApp.CreateBuilder(args, options =>
{
    options.TreatPublicMethodsAsCommands = false;
    options.EnableShellCompletionSupport = false;
});
builder.Logging.ClearProviders();
var app = builder.Build();
app.UseFilter(new ExitCodeFilter());
app.AddCommands<InfoCommand>();
app.AddCommands<PlotLossCommand>();
app.AddCommands<InspectCommand>();
app.AddCommands<LogitsCommand>();
app.AddCommands<TrainCommand>();
app.AddCommands<ExtractCommand>();
app.AddCommands<ConvertCommand>();
app.AddCommands<QuantizeCommand>();
app.AddCommands<GenerateCommand>();
app.AddCommands<ChatCommand>();
app.AddCommands<EvalCommand>();
app.AddCommands<BenchCommand>();
app.AddCommands<DemoCommand>();
await app.RunAsync();
return Environment.ExitCode;
