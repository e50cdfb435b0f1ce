using System.Text;
using LlamaAdapter.Core.Tokenizers;
using LlamaAdapter.Inference.Generation;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Inference.Sampling;
using LlamaAdapter.Tests.Model;
using LlamaAdapter.Tests.Support;

namespace LlamaAdapter.Tests.Inference;

/// <summary>
/// Generation with the LLaMA-2 SentencePiece vocabulary embedded in the model GGUF, over a random 32k-vocab tiny
/// model: its samples wander through byte tokens and word pieces, which the streamed text must survive.
/// </summary>
public sealed class RealTokenizerGenerationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("engine-spm-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [SharedDataFact("tokenizer.model")]
    public void StreamedText_IsTheReturnedText_AndTheDecodedContinuation()
    {
        var spm = GgufTokenizerMetadata.FromSentencePiece(SentencePieceModel.Load(RepoPaths.SharedFile("tokenizer.model")));
        var tiny = new TinyLlama(TinyLlama.DefaultConfig() with { VocabSize = 32000, NLayers = 2 });
        string path = Path.Combine(_dir, "tiny-spm.gguf");
        TinyGguf.WriteModel(tiny, path, tokenizer: spm);

        var tok = TokenizerLoader.ForModel(path);
        using var model = GgmlLlamaModel.Load(path);
        using var session = new LlamaSession(model);
        for (ulong seed = 1; seed <= 3; seed++)
        {
            var streamed = new StringBuilder();
            var options = new GenerationOptions(MaxTokens: 40, StopAtEos: false)
            {
                Sampling = new SamplingOptions(Temperature: 1, TopK: 0, TopP: 1, MinP: 0, Seed: seed),
            };
            var result = new TextGenerator(session, tok).Generate("Alpacas are", options, s => streamed.Append(s));
            Assert.Equal(40, result.Tokens.Count);
            Assert.Equal(result.Text, streamed.ToString());
            string prompt = tok.Decode(result.PromptTokens.ToArray());
            string full = tok.Decode(result.PromptTokens.Concat(result.Tokens).ToArray());
            Assert.Equal("Alpacas are", prompt);
            Assert.Equal(full[prompt.Length..], result.Text);
        }
    }
}
