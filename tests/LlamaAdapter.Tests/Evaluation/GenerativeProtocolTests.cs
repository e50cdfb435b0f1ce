using LlamaAdapter.Evaluation.Generative;

namespace LlamaAdapter.Tests.Evaluation;

/// <summary>difflib ratios against CPython 3 (printed by python3 here, autojunk on and off) and the reference's matching rules.</summary>
public class GenerativeProtocolTests
{
    private static readonly string LongResponse = " " + string.Concat(Enumerable.Repeat("the answer is clearly option b because the sun is a star and stars emit light; ", 4));

    public static TheoryData<string, string, double, double> Ratios => new()
    {
        { "carbon dioxide", " The answer is carbon dioxide.", 0.6363636363636364, 0.6363636363636364 },
        { "oxygen", " The answer is carbon dioxide.", 0.16666666666666666, 0.16666666666666666 },
        { "", "", 1.0, 1.0 },
        { "abc", "", 0.0, 0.0 },
        { "abxcd", "abcd", 0.8888888888888888, 0.8888888888888888 },
        { "héllo wörld", "hello world", 0.8181818181818182, 0.8181818181818182 },
        // Responses of 200+ characters: autojunk drops popular characters as match starts.
        { "The sun is a star.", LongResponse, 0.0, 0.0955223880597015 },
        { "Nothing happens", LongResponse, 0.018072289156626505, 0.03614457831325301 },
        { "aaaa bbbb", string.Concat(Enumerable.Repeat("ab", 150)) + " aaaa bbbb", 0.012539184952978056, 0.05642633228840126 },
    };

    [Theory]
    [MemberData(nameof(Ratios))]
    public void Ratio_MatchesCPythonDifflib(string a, string b, double withAutojunk, double without)
    {
        Assert.Equal(withAutojunk, new SequenceMatcher(a, b).Ratio(), 15);
        Assert.Equal(without, new SequenceMatcher(a, b, autojunk: false).Ratio(), 15);
    }

    [Fact]
    public void CheckCorrect_FollowsReferenceRules()
    {
        string[] choices = ["oxygen", "carbon dioxide.", "helium"];
        // Exactly one contained (the period-less form counts) and most similar: right.
        Assert.True(ReferenceGenerativeProtocol.CheckCorrect(choices, " Carbon dioxide is absorbed.", 1));
        Assert.False(ReferenceGenerativeProtocol.CheckCorrect(choices, " Carbon dioxide is absorbed.", 0));
        // Two contained: wrong whatever the gold.
        Assert.False(ReferenceGenerativeProtocol.CheckCorrect(choices, " oxygen or helium", 0));
        // None contained: the most similar decides.
        Assert.True(ReferenceGenerativeProtocol.CheckCorrect(choices, " heliun", 2));
        Assert.Null(ReferenceGenerativeProtocol.FindMostSimilarIndex(["abc"], "xyz"));
        Assert.Equal(" B", ReferenceGenerativeProtocol.Response("prompt ### Response: A ### Response: B"));
    }

    [Fact]
    public void Prompts_AsSeedCode()
    {
        var body = ReferenceGenerativeProtocol.ArcOrMmluInstruction("Which gas?", ["oxygen", "carbon dioxide"]);
        Assert.Equal("\nQuestion: Which gas?\n\nOptions:\n\n- oxygen\n- carbon dioxide", body);
        Assert.Equal("Below is an instruction that describes a task. Write a response that appropriately completes the multiple-choice question.\n\n" +
                     "### Instruction:\n\nQuestion: Which gas?\n\nOptions:\n\n- oxygen\n- carbon dioxide\n\n### Response:",
                     ReferenceGenerativeProtocol.MultipleChoicePrompt(body));
        Assert.StartsWith("Below is an instruction that describes a task. Write a response that appropriately completes the multiple-choice question about high_school_biology.\n\n### Instruction:\n",
                          ReferenceGenerativeProtocol.MmluPrompt("high_school_biology", body));
        var tqa = ReferenceGenerativeProtocol.TruthfulQaInstructionBody("Q?", ["a", "b"]);
        Assert.EndsWith("common mythss.\n\nQuestion: Q?\n\nOptions\n\n- a\n- b", tqa);
    }
}
