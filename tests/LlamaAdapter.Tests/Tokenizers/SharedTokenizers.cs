using CsvHelper;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Tests.Support;

namespace LlamaAdapter.Tests.Tokenizers;

/// <summary>The LLaMA-2 tokenizer.model of the shared data, loaded once, and the TruthfulQA strings.</summary>
internal static class SharedTokenizers
{
    public const string ModelFile = "tokenizer.model";
    public const string TruthfulQaFile = "TruthfulQA.csv";

    private static readonly Lazy<SentencePieceModel> LazyModel = new(() => SentencePieceModel.Load(RepoPaths.SharedFile(ModelFile)));
    private static readonly Lazy<SpmTokenizer> LazySpm = new(() => SpmTokenizer.Load(RepoPaths.SharedFile(ModelFile)));
    private static readonly Lazy<LlamaVocabTokenizer> LazyLlama = new(() => LlamaVocabTokenizer.FromSentencePiece(LazyModel.Value));
    private static readonly Lazy<IReadOnlyList<string>> LazyTexts = new(ReadTruthfulQa);

    public static SentencePieceModel Model => LazyModel.Value;
    public static SpmTokenizer Spm => LazySpm.Value;
    public static LlamaVocabTokenizer Llama => LazyLlama.Value;

    /// <summary>Every Question, Best Answer and each ';'-separated Correct and Incorrect Answer (trimmed), in file order.</summary>
    public static IReadOnlyList<string> TruthfulQaTexts => LazyTexts.Value;

    private static IReadOnlyList<string> ReadTruthfulQa()
    {
        using var csv = CsvReader.FromFile(RepoPaths.SharedFile(TruthfulQaFile), new CsvReaderOptions { HasHeader = true });
        var texts = new List<string>();
        int rows = 0;
        while (csv.Read())
        {
            rows++;
            texts.Add(csv.GetString("Question"));
            texts.Add(csv.GetString("Best Answer"));
            foreach (var column in new[] { "Correct Answers", "Incorrect Answers" })
                foreach (var answer in csv.GetString(column).Split(';'))
                    if (answer.Trim() is { Length: > 0 } a) texts.Add(a);
        }
        if (rows != 817) throw new InvalidDataException($"{TruthfulQaFile}: expected the 817 TruthfulQA questions, read {rows} rows");
        return texts;
    }
}
