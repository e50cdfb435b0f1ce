using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace LlamaAdapter.Core.Native;

/// <summary>enum ggml_log_level.</summary>
public enum GgmlLogLevel { None = 0, Debug = 1, Info = 2, Warn = 3, Error = 4, Cont = 5 }

/// <summary>
/// Routes ggml's log (which otherwise writes to stderr from native code) to a managed sink. By default
/// warnings and errors go to stderr and the chatter (which backend variant loaded, buffer sizes) is kept
/// at <see cref="GgmlLogLevel.Info"/>, which the default sink drops.
/// </summary>
public static unsafe class GgmlLog
{
    private static GgmlLogLevel _lastLevel = GgmlLogLevel.Info;

    /// <summary>Receives every complete line ggml logs. Replace it to capture or show more.</summary>
    public static Action<GgmlLogLevel, string> Sink { get; set; } = (level, line) =>
    {
        if (level >= GgmlLogLevel.Warn) Console.Error.WriteLine($"ggml: {line}");
    };

    internal static void Install() => GgmlApi.ggml_log_set(&OnLog, IntPtr.Zero);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnLog(GgmlLogLevel level, byte* text, IntPtr userData)
    {
        try
        {
            // CONT continues the previous message at its level.
            if (level != GgmlLogLevel.Cont) _lastLevel = level;
            string s = Marshal.PtrToStringUTF8((IntPtr)text) ?? "";
            foreach (var line in s.TrimEnd('\n').Split('\n'))
                if (line.Length > 0) Sink(_lastLevel, line);
        }
        catch
        {
            // An exception must never unwind into native code.
        }
    }
}
