using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace LlamaAdapter.Core.Native;

/// <summary>
/// libllama's log is one callback for the whole process (<c>llama_log_set</c>, which also takes over ggml's), so every
/// user of libllama shares this one: installed once, it forwards each line to <see cref="GgmlLog.Sink"/> and keeps the
/// error lines logged on the calling thread since its <see cref="BeginCapture"/>, for the exception that reports a
/// refused load or decode. Per thread, because libllama logs a load's errors on the thread that asked for it, and
/// parallel callers (tests) must not read each other's.
/// </summary>
public static unsafe class LlamaLog
{
    private static readonly Lock Gate = new();
    private static bool _initialized;
    [ThreadStatic] private static List<string>? t_errors;
    [ThreadStatic] private static GgmlLogLevel t_lastLevel;

    /// <summary>Registers the ggml backends, installs the callback and initialises libllama, once per process.</summary>
    public static void EnsureInitialized()
    {
        GgmlLibrary.LoadBackends(); // libllama loads nothing while no backend is registered
        lock (Gate)
        {
            if (_initialized) return;
            LlamaApi.llama_log_set(&OnLog, IntPtr.Zero);
            GgmlLog.Install(); // llama_log_set replaced ggml's logger too: give it back
            LlamaApi.llama_backend_init();
            _initialized = true;
        }
    }

    /// <summary>Forgets this thread's earlier errors: what libllama logs from now on is <see cref="CapturedErrors"/>.</summary>
    public static void BeginCapture() => (t_errors ??= []).Clear();

    /// <summary>The error lines logged on this thread since <see cref="BeginCapture"/>, or "no reason logged".</summary>
    public static string CapturedErrors() => t_errors is { Count: > 0 } e ? string.Join("; ", e) : "no reason logged";

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnLog(GgmlLogLevel level, byte* text, IntPtr userData)
    {
        try
        {
            if (level != GgmlLogLevel.Cont) t_lastLevel = level; // CONT continues the previous message at its level
            string s = (Marshal.PtrToStringUTF8((IntPtr)text) ?? "").TrimEnd('\n');
            if (s.Length == 0) return;
            if (t_lastLevel == GgmlLogLevel.Error) (t_errors ??= []).Add(s.Trim());
            // the same sink as ggml's log: its default drops the loading chatter (Info) and shows warnings and errors
            foreach (var line in s.Split('\n'))
                if (line.Length > 0) GgmlLog.Sink(t_lastLevel, "llama: " + line);
        }
        catch
        {
            // an exception must never unwind into native code
        }
    }
}
