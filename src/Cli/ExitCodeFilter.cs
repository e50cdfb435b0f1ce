using Cocona.Filters;

namespace LlamaAdapter.Cli;

/// <summary>
/// The CLI's exit-code contract: 0 success; 1 a user error (bad argument, bad file), one clear line and no
/// stack trace; 2 an internal error, with a hint. Commands throw <see cref="UserException"/> (or the
/// argument/data/IO exceptions the libraries throw for bad input) and never call Environment.Exit.
/// </summary>
public sealed class ExitCodeFilter : ICommandFilter
{
    public const int UserError = 1;
    public const int InternalError = 2;

    public int Order { get; set; }

    public async ValueTask<int> OnCommandExecutionAsync(CoconaCommandExecutingContext ctx, CommandExecutionDelegate next)
    {
        try
        {
            return Environment.ExitCode = await next(ctx);
        }
        catch (Exception e) when (IsUserError(e))
        {
            Console.Error.WriteLine($"error: {e.Message}"); // one unwrapped line on stderr, whatever the terminal width
            return Environment.ExitCode = UserError;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled");
            return Environment.ExitCode = 130;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"internal error: {e.GetType().Name}: {e.Message}");
            Console.Error.WriteLine("This is a bug in llama-adapter. Re-run with LLAMA_ADAPTER_TRACE=1 for the stack trace and include it in a report.");
            if (Environment.GetEnvironmentVariable("LLAMA_ADAPTER_TRACE") == "1") Console.Error.WriteLine(e);
            return Environment.ExitCode = InternalError;
        }
    }

    private static bool IsUserError(Exception e) =>
        e is UserException or LlamaAdapter.Core.BadInputException or ArgumentException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException
             or UnauthorizedAccessException or DllNotFoundException;
}

/// <summary>A problem with what the user asked for or gave us; its message is the whole report.</summary>
public sealed class UserException(string message) : Exception(message);
