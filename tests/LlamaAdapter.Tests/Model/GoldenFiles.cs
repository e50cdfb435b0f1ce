using System.Text.Json;
using LlamaAdapter.Tests.Support;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Model;

/// <summary>
/// The goldens tools/golden_hf.py writes (HF transformers, PEFT and a torch re-implementation of the reference
/// adapter). They need a Python ML session, so they may be absent: the tests using them are skipped until then.
/// </summary>
internal static class GoldenFiles
{
    public static string Folder => Path.Combine(RepoPaths.Root, "tests", "LlamaAdapter.Tests", "Model", "Goldens");

    public static string PathOf(string name) => Path.Combine(Folder, name);

    /// <summary>A minimal safetensors reader for test fixtures (F32, F16, BF16, I64): u64 header size, JSON header, data.</summary>
    public static Dictionary<string, Tensor> Read(string name)
    {
        var bytes = File.ReadAllBytes(PathOf(name));
        long n = BitConverter.ToInt64(bytes, 0);
        using var header = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
        var result = new Dictionary<string, Tensor>();
        foreach (var e in header.RootElement.EnumerateObject())
        {
            if (e.Name == "__metadata__") continue;
            var shape = e.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            var off = e.Value.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            var span = bytes.AsSpan((int)(8 + n + off[0]), (int)(off[1] - off[0]));
            result[e.Name] = e.Value.GetProperty("dtype").GetString() switch
            {
                "F32" => tensor(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(span).ToArray(), shape),
                "I64" => tensor(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(span).ToArray(), shape),
                var d => throw new NotSupportedException($"{name}: {e.Name} has dtype {d}; goldens are F32/I64"),
            };
        }
        return result;
    }
}

/// <summary>A fact skipped, with the reason, while tools/golden_hf.py has not been run.</summary>
public sealed class GoldenFactAttribute : FactAttribute
{
    public GoldenFactAttribute()
    {
        if (!File.Exists(GoldenFiles.PathOf("config.json")))
            Skip = $"goldens absent: run tools/golden_hf.py --out {GoldenFiles.Folder} in a Python ML session";
    }
}
