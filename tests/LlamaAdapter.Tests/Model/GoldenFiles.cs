using System.Runtime.InteropServices;
using LlamaAdapter.Core.Formats.Safetensors;
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

    /// <summary>A golden safetensors file as tensors (F32 and I64, what golden_hf.py writes), through our own reader.</summary>
    public static Dictionary<string, Tensor> Read(string name)
    {
        using var reader = SafetensorsReader.Open(PathOf(name));
        var result = new Dictionary<string, Tensor>();
        foreach (var t in reader.Tensors)
        {
            var span = reader.GetBytes(t.Name);
            result[t.Name] = t.DType switch
            {
                SafetensorsDType.F32 => tensor(MemoryMarshal.Cast<byte, float>(span).ToArray(), t.Shape),
                SafetensorsDType.I64 => tensor(MemoryMarshal.Cast<byte, long>(span).ToArray(), t.Shape),
                var d => throw new NotSupportedException($"{name}: {t.Name} has dtype {d}; goldens are F32/I64"),
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
