using LlamaAdapter.Core.Formats.Gguf;

namespace LlamaAdapter.Core.Tokenizers;

/// <summary>
/// Finds the tokenizer that belongs to a model. We tokenize with <see cref="LlamaVocabTokenizer"/> (llama.cpp's and
/// SentencePiece's algorithm) rather than ML.Tokenizers, whose merge order differs on equal-score ties (see
/// <see cref="SpmTokenizer"/>), so training, the ggml engine and evaluation all see the reference's ids.
/// </summary>
public static class TokenizerLoader
{
    /// <param name="model">a GGUF file, or a HF/Meta model directory (or a file inside one)</param>
    /// <param name="tokenizer">an explicit tokenizer.model or GGUF file; null to look beside the model</param>
    public static ITokenizer ForModel(string model, string? tokenizer = null)
    {
        if (tokenizer is not null) return Load(tokenizer);
        if (GgufLayout.IsGgufFile(model)) return LlamaVocabTokenizer.FromGgufFile(model);
        string dir = Directory.Exists(model) ? model : Path.GetDirectoryName(Path.GetFullPath(model))!;
        string spm = Path.Combine(dir, "tokenizer.model");
        if (File.Exists(spm)) return Load(spm);
        throw new BadInputException($"{model}: no tokenizer found (expected {spm}, or a GGUF with tokenizer.ggml.* metadata); pass --tokenizer");
    }

    /// <summary>A SentencePiece tokenizer.model or the tokenizer.ggml.* metadata of a GGUF file.</summary>
    public static ITokenizer Load(string path)
    {
        if (!File.Exists(path)) throw new BadInputException($"{path}: tokenizer file not found");
        return GgufLayout.IsGgufFile(path)
            ? LlamaVocabTokenizer.FromGgufFile(path)
            : LlamaVocabTokenizer.FromSentencePiece(SentencePieceModel.Load(path));
    }
}
