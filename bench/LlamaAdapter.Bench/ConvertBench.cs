using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using LlamaAdapter.Convert;
using LlamaAdapter.Core.Formats.Safetensors;
using LlamaAdapter.Core.Tokenizers;

namespace LlamaAdapter.Bench;

/// <summary>
/// HF bf16 → GGUF wall time on a synthetic LLaMA-7B-shaped checkpoint (dim 4096, ffn 11008, 32 heads, vocab 32000,
/// two shards), written once in GlobalSetup: <see cref="Layers"/> of the 32 blocks (default 2, ≈ 1.3 GB, so the suite
/// runs on a small shared machine; LLAMA_ADAPTER_BENCH_LAYERS=32 gives the full 13.5 GB model — check df first).
/// Baseline: bf16 → BF16, the same read / widen / narrow / write pipeline without quantization; Q8_0 adds the
/// parallel row quantization. Peak RSS of the process is printed at cleanup (streaming: one row chunk per tensor
/// in flight, so it stays far below the model size).
/// Run: dotnet run -c Release --project bench/LlamaAdapter.Bench -- --filter '*ConvertBench*'
/// </summary>
[Config(typeof(Settings))]
public class ConvertBench
{
    /// <summary>Seconds per operation: a few monitored runs, in process (a generated project takes minutes to build on a small machine).</summary>
    private sealed class Settings : ManualConfig
    {
        public Settings() => AddJob(Job.Default.WithStrategy(RunStrategy.Monitoring).WithLaunchCount(1).WithWarmupCount(1)
                                       .WithIterationCount(3).WithToolchain(InProcessEmitToolchain.Instance));
    }

    private string _dir = "", _hf = "";
    private SentencePieceModel _tokenizer = null!;

    public int Layers { get; } = int.TryParse(Environment.GetEnvironmentVariable("LLAMA_ADAPTER_BENCH_LAYERS"), out int n) && n > 0 ? n : 2;

    [GlobalSetup]
    public void Setup()
    {
        _dir = Path.Combine(Path.GetTempPath(), "convert-bench-" + Guid.NewGuid().ToString("N"));
        _hf = Path.Combine(_dir, "hf");
        SyntheticLlama.WriteHf(_hf, dim: 4096, ffn: 11008, heads: 32, vocab: 32000, layers: Layers, shards: 2);
        _tokenizer = SyntheticLlama.Tokenizer(32000);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        // Peak RSS counts the pages of the memory-mapped input too (file-backed, reclaimable); RssAnon is the heap.
        string status = File.Exists("/proc/self/status") ? string.Join(", ", File.ReadAllLines("/proc/self/status")
            .Where(l => l.StartsWith("RssAnon", StringComparison.Ordinal) || l.StartsWith("RssFile", StringComparison.Ordinal))
            .Select(l => string.Join(' ', l.Split((char[])[' ', '\t'], StringSplitOptions.RemoveEmptyEntries)))) : "";
        Console.WriteLine($"// ConvertBench: {Layers} layers, peak RSS {Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0:0} MiB " +
                          $"(checkpoint {Directory.GetFiles(_hf).Sum(f => new FileInfo(f).Length) / 1048576.0:0} MiB); now {status}");
        Directory.Delete(_dir, recursive: true);
    }

    private void Run(OutputType type) =>
        ModelConverter.Convert(_hf, Path.Combine(_dir, $"out.{type}.gguf"), new ConvertOptions(type, Tokenizer: _tokenizer));

    [Benchmark(Baseline = true)]
    public void Bf16ToBf16() => Run(OutputType.BF16);

    [Benchmark]
    public void Bf16ToQ8_0() => Run(OutputType.Q8_0);
}

/// <summary>A LLaMA-shaped HF checkpoint of random bf16 weights (N(0, 0.02)-like, norms 1) and a placeholder vocabulary.</summary>
internal static class SyntheticLlama
{
    public static void WriteHf(string dir, int dim, int ffn, int heads, int vocab, int layers, int shards)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["model_type"] = "llama", ["hidden_size"] = dim, ["num_hidden_layers"] = layers, ["num_attention_heads"] = heads,
            ["num_key_value_heads"] = heads, ["intermediate_size"] = ffn, ["vocab_size"] = vocab, ["rms_norm_eps"] = 1e-5,
            ["max_position_embeddings"] = 4096,
        }));
        var tensors = new List<(string Name, long[] Shape)> { ("model.embed_tokens.weight", [vocab, dim]) };
        for (int l = 0; l < layers; l++)
        {
            string p = $"model.layers.{l}.";
            tensors.AddRange([(p + "input_layernorm.weight", [dim]), (p + "self_attn.q_proj.weight", [dim, dim]),
                (p + "self_attn.k_proj.weight", [dim, dim]), (p + "self_attn.v_proj.weight", [dim, dim]),
                (p + "self_attn.o_proj.weight", [dim, dim]), (p + "post_attention_layernorm.weight", [dim]),
                (p + "mlp.gate_proj.weight", [ffn, dim]), (p + "mlp.up_proj.weight", [ffn, dim]), (p + "mlp.down_proj.weight", [dim, ffn])]);
        }
        tensors.AddRange([("model.norm.weight", [dim]), ("lm_head.weight", [vocab, dim])]);

        var map = new Dictionary<string, string>();
        ulong state = 0x9E3779B97F4A7C15;
        var buffer = new ushort[1 << 20];
        for (int s = 0; s < shards; s++)
        {
            var part = tensors.Where((_, i) => i % shards == s).ToList();
            string file = $"model-{s + 1:00000}-of-{shards:00000}.safetensors";
            using var w = new SafetensorsWriter(Path.Combine(dir, file), part.Select(t => new SafetensorsTensorDecl(t.Name, SafetensorsDType.BF16, t.Shape)));
            foreach (var (name, shape) in part)
            {
                map[name] = file;
                long n = shape.Aggregate(1L, (a, b) => a * b);
                bool norm = shape.Length == 1;
                for (long done = 0; done < n; done += buffer.Length)
                {
                    int count = (int)Math.Min(buffer.Length, n - done);
                    for (int i = 0; i < count; i++)
                    {
                        state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                        // sum of two uniforms: a cheap bell shape of std ≈ 0.02
                        float x = norm ? 1f : ((state & 0xFFFF) + ((state >> 16) & 0xFFFF) - 65535f) / 65535f * 0.05f;
                        buffer[i] = (ushort)(BitConverter.SingleToUInt32Bits(x) >> 16);
                    }
                    w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(buffer.AsSpan(0, count)));
                }
            }
            w.Commit();
        }
        File.WriteAllText(Path.Combine(dir, SafetensorsModel.IndexFileName), JsonSerializer.Serialize(new { metadata = new { }, weight_map = map }));
    }

    public static SentencePieceModel Tokenizer(int n) => new()
    {
        Pieces = Enumerable.Range(0, n).Select(i => i switch
        {
            0 => new SentencePiece("<unk>", 0, SentencePieceType.Unknown),
            1 => new SentencePiece("<s>", 0, SentencePieceType.Control),
            2 => new SentencePiece("</s>", 0, SentencePieceType.Control),
            _ => new SentencePiece("\u2581p" + i.ToString(CultureInfo.InvariantCulture), -i, SentencePieceType.Normal),
        }).ToList(),
        TrainerSpec = new SentencePieceTrainerSpec(SentencePieceModelType.Bpe),
        NormalizerSpec = new SentencePieceNormalizerSpec(),
        Source = "synthetic vocabulary",
    };
}
