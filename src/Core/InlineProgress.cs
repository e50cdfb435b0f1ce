namespace LlamaAdapter.Core;

/// <summary>
/// An <see cref="IProgress{T}"/> that calls <paramref name="report"/> at once on the reporting thread. System.Progress
/// posts to the thread pool in a console app, so a progress bar would see reports late, out of order, or after the
/// work has finished.
/// </summary>
public sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
