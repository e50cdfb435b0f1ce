namespace LlamaAdapter.Cli.Commands;

/// <summary>The first Ctrl-C cancels <see cref="Token"/> (generation stops cleanly); a second one ends the process.</summary>
public sealed class ConsoleCancellation : IDisposable
{
    private readonly CancellationTokenSource _cts = new();

    public ConsoleCancellation() => Console.CancelKeyPress += OnCancel;

    public CancellationToken Token => _cts.Token;

    private void OnCancel(object? sender, ConsoleCancelEventArgs e)
    {
        if (_cts.IsCancellationRequested) return;
        e.Cancel = true;
        _cts.Cancel();
    }

    public void Dispose()
    {
        Console.CancelKeyPress -= OnCancel;
        _cts.Dispose();
    }
}
