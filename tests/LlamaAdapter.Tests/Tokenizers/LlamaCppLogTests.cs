using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tokenizers;

namespace LlamaAdapter.Tests.Tokenizers;

public class LlamaCppLogTests
{
    private static SentencePieceModel TinyModel() => new()
    {
        Pieces = [new("<unk>", 0, SentencePieceType.Unknown), new("<s>", 0, SentencePieceType.Control), new("</s>", 0, SentencePieceType.Control),
                  new("▁", -1, SentencePieceType.Normal), new("a", -2, SentencePieceType.Normal), new("▁a", -3, SentencePieceType.Normal)],
        TrainerSpec = new(SentencePieceModelType.Bpe, ByteFallback: false),
        NormalizerSpec = new(RemoveExtraWhitespaces: false),
        Source = "tiny.model",
    };

    [Fact]
    public void AfterLoadingLibllama_GgmlStillLogsToGgmlLog_AndLlamaLogsThroughTheSameSink()
    {
        string dir = Directory.CreateTempSubdirectory("tok-log").FullName;
        var previous = GgmlLog.Sink;
        var lines = new List<(GgmlLogLevel Level, string Line)>();
        try
        {
            string path = Path.Combine(dir, "tiny.gguf");
            VocabOnlyGguf.Write(path, VocabOnlyGguf.Metadata(TinyModel()));
            GgmlLog.Sink = (level, line) => { lock (lines) lines.Add((level, line)); previous(level, line); };
            using (var tok = LlamaCppTokenizer.Load(path))
            {
                Assert.Equal([5, 5], tok.Encode("a a", addBos: false, addEos: false));
                Assert.Equal(LlamaVocabTokenizer.FromSentencePiece(TinyModel()).Encode("a a", false, false), tok.Encode("a a", false, false));
            }
            lock (lines) Assert.Contains(lines, l => l.Line.StartsWith("llama: ", StringComparison.Ordinal)); // libllama's load log

            // ggml's own log (gguf.cpp reports a file it cannot open) must reach GgmlLog unprefixed, not libllama's handler
            IntPtr ctx = GgmlApi.gguf_init_from_file(Path.Combine(dir, "absent.gguf"), default);
            Assert.Equal(IntPtr.Zero, ctx);
            lock (lines) Assert.Contains(lines, l => l.Level == GgmlLogLevel.Error && l.Line.Contains("absent.gguf") && !l.Line.StartsWith("llama: ", StringComparison.Ordinal));
        }
        finally
        {
            GgmlLog.Sink = previous;
            Directory.Delete(dir, recursive: true);
        }
    }
}
