using System.Globalization;
using Cocona;
using LlamaAdapter.Inference.Generation;
using LlamaAdapter.Inference.Sampling;

namespace LlamaAdapter.Cli.Commands;

/// <summary>How to sample and when to stop: the options <c>generate</c> and <c>chat</c> share.</summary>
public sealed record SamplingParameters(
    [Option("max-tokens", Description = "Tokens to generate at most (per reply)")] int MaxTokens = 256,
    [Option("temp", Description = "Temperature; 0 = greedy")] float Temp = 0.8f,
    [Option("top-k", Description = "Keep the k most likely tokens (0 = off)")] int TopK = 40,
    [Option("top-p", Description = "Keep the smallest set reaching this probability (1 = off)")] float TopP = 0.95f,
    [Option("min-p", Description = "Drop tokens below this fraction of the best one's probability (0 = off)")] float MinP = 0.05f,
    [Option("repeat-penalty", Description = "Penalty for tokens among the last --repeat-last-n (1 = off)")] float RepeatPenalty = 1.0f,
    [Option("repeat-last-n", Description = "How many recent tokens the repetition penalty looks at")] int RepeatLastN = 64,
    [Option("seed", Description = "Sampling seed (default: a random one, printed to stderr)")] ulong? Seed = null,
    [Option("stop", Description = "Stop when this text appears (not printed); repeatable")] string[]? Stop = null) : ICommandParameterSet
{
    /// <summary>The generation options, with a random seed drawn (and reported on stderr when it matters) if none was given.</summary>
    public GenerationOptions ToOptions(bool addBos)
    {
        if (MaxTokens < 0) throw new UserException($"--max-tokens: expected >= 0, got {MaxTokens}");
        ulong seed = Seed ?? (ulong)Random.Shared.NextInt64();
        SamplingOptions sampling;
        try { sampling = new SamplingOptions(Temp, TopK, TopP, MinP, RepeatPenalty, RepeatLastN, seed).Validate(); }
        catch (ArgumentException e) { throw new UserException(e.Message); }
        if (Seed is null && Temp > 0) Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"seed: {seed}"));
        return new GenerationOptions(MaxTokens, Stop ?? [], AddBos: addBos) { Sampling = sampling };
    }
}
