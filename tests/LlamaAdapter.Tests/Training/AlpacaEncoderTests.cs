using LlamaAdapter.Core.Data;
using LlamaAdapter.Training.Pipeline;

namespace LlamaAdapter.Tests.Training;

public sealed class AlpacaEncoderTests
{
    private static readonly ByteTokenizer Tok = new();

    [Fact]
    public void ShortExample_IsPaddedWithZeros_AndOnlyTheAnswerAndEosAreLabelled()
    {
        var ex = new AlpacaExample("Say hi", "", "Hi!");
        string prompt = AlpacaPrompt.Format(ex);
        int promptLen = 1 + System.Text.Encoding.UTF8.GetByteCount(prompt);       // BOS + bytes
        int max = promptLen + 10;
        var e = new AlpacaEncoder(Tok, max).Encode(ex);

        Assert.Equal(max, e.Tokens.Length);
        Assert.Equal(max, e.Labels.Length);
        Assert.Equal(promptLen + 3 + 1, e.Length);                                  // "Hi!" + EOS
        Assert.False(e.Truncated);
        Assert.Equal(1, e.Tokens[0]);
        Assert.Equal('H' + 3, e.Tokens[promptLen]);
        Assert.Equal(2, e.Tokens[promptLen + 3]);                                   // EOS right after the answer
        Assert.All(e.Tokens[(promptLen + 4)..], t => Assert.Equal(0, t));           // pad id 0
        Assert.All(e.Labels[..promptLen], l => Assert.Equal(0, l));                 // prompt ignored
        Assert.Equal(new[] { 'H' + 3, 'i' + 3, '!' + 3, 2 }, e.Labels[promptLen..(promptLen + 4)]);
        Assert.All(e.Labels[(promptLen + 4)..], l => Assert.Equal(0, l));           // pad ignored
    }

    [Fact]
    public void ResponseFollowsTheTemplateWithNothingInBetween()
    {
        var ex = new AlpacaExample("Add", "1 and 2", "3");
        var e = new AlpacaEncoder(Tok, 400).Encode(ex);
        string decoded = Tok.Decode(e.Tokens.AsSpan(0, e.Length));
        Assert.EndsWith("### Input:\n1 and 2\n\n### Response:3", decoded);
        Assert.StartsWith("Below is an instruction that describes a task, paired with an input", decoded);
    }

    [Fact]
    public void LongExample_IsCutToMaxSeqLen_LosingTheEos()
    {
        var ex = new AlpacaExample("Repeat", "", new string('a', 100));
        int promptLen = 1 + System.Text.Encoding.UTF8.GetByteCount(AlpacaPrompt.Format(ex));
        var e = new AlpacaEncoder(Tok, promptLen + 5).Encode(ex);
        Assert.True(e.Truncated);
        Assert.Equal(promptLen + 5, e.Length);
        Assert.DoesNotContain(2, e.Tokens);
        Assert.Equal(Enumerable.Repeat('a' + 3, 5), e.Labels[promptLen..]);
    }

    [Fact]
    public void PromptLongerThanMaxSeqLen_LeavesNoLabel()
    {
        var e = new AlpacaEncoder(Tok, 16).Encode(new AlpacaExample("x", "", "y"));
        Assert.All(e.Labels, l => Assert.Equal(0, l));
        Assert.Equal(0, LlamaAdapter.Training.Pipeline.CausalLmLoss.CountedTokens(TorchSharp.torch.tensor(e.Labels.Select(l => (long)l).ToArray(), [1, 16])));
    }
}
