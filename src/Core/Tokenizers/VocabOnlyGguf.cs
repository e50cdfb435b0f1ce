using LlamaAdapter.Core.Formats.Gguf;

namespace LlamaAdapter.Core.Tokenizers;

/// <summary>
/// A GGUF file that holds a tokenizer and no tensors: what libllama loads with vocab_only (tokenizer tests, a
/// tokenizer shipped apart from weights).
/// </summary>
public static class VocabOnlyGguf
{
    public static GgufMetadata Metadata(SentencePieceModel model, IEnumerable<KeyValuePair<string, GgufValue>>? hparams = null)
    {
        var md = new GgufMetadata { Source = model.Source };
        md.Set("general.architecture", GgufValue.Of("llama"));
        foreach (var (k, v) in hparams ?? []) md.Set(k, v);
        foreach (var (k, v) in GgufTokenizerMetadata.FromSentencePiece(model)) md.Set(k, v);
        return md;
    }

    /// <summary>Writes the file atomically (temp file beside it, renamed on success).</summary>
    public static void Write(string path, GgufMetadata metadata)
    {
        using var writer = GgufWriter.Create(path, metadata, []);
        writer.Commit();
    }
}
