using BenchmarkDotNet.Attributes;
using LlamaAdapter.Core.Tokenizers;

namespace LlamaAdapter.Bench;

/// <summary>
/// Encoding a paragraph of English with the LLaMA-2 vocabulary: our llama.cpp-style tokenizer and libllama against
/// SentencePiece through Microsoft.ML.Tokenizers (the baseline). Needs the shared tokenizer.model
/// ($LLAMA_ADAPTER_DATA, else ../shared/data beside the repository).
/// </summary>
[MemoryDiagnoser]
public class TokenizerBench
{
    private const string Text =
        "The watermelon seeds pass through your digestive system. Nothing happens if you eat them; you will not " +
        "grow watermelons in your stomach. Misconceptions like this one are common: people often repeat what they " +
        "heard as children without checking it, and the ellipsis... or repeated letters (\"effff\") are rare. ";

    private string _text = "";
    private SpmTokenizer _spm = null!;
    private LlamaVocabTokenizer _ours = null!;
    private LlamaCppTokenizer _cpp = null!;
    private string _dir = "";

    [Params(1, 16)] public int Paragraphs;

    [GlobalSetup]
    public void Setup()
    {
        string data = Environment.GetEnvironmentVariable("LLAMA_ADAPTER_DATA") is { Length: > 0 } d ? d : FindSharedData();
        string model = Path.Combine(data, "tokenizer.model");
        _spm = SpmTokenizer.Load(model);
        var sp = SentencePieceModel.Load(model);
        _ours = LlamaVocabTokenizer.FromSentencePiece(sp);
        _dir = Directory.CreateTempSubdirectory("tok-bench").FullName;
        string gguf = Path.Combine(_dir, "vocab.gguf");
        VocabOnlyGguf.Write(gguf, VocabOnlyGguf.Metadata(sp));
        _cpp = LlamaCppTokenizer.Load(gguf);
        _text = string.Concat(Enumerable.Repeat(Text, Paragraphs));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _cpp.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Benchmark(Baseline = true)] public int[] MlTokenizers() => _spm.Encode(_text, addBos: true, addEos: false);
    [Benchmark] public int[] LlamaVocab() => _ours.Encode(_text, addBos: true, addEos: false);
    [Benchmark] public int[] Libllama() => _cpp.Encode(_text, addBos: true, addEos: false);

    private static string FindSharedData()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LlamaAdapter.sln")))
                return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "data"));
        throw new InvalidOperationException("LlamaAdapter.sln not found: set LLAMA_ADAPTER_DATA to the folder holding tokenizer.model");
    }
}
