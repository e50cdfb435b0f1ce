using System.Globalization;
using System.Text.RegularExpressions;
using LlamaAdapter.Core;

namespace LlamaAdapter.Training.Checkpoints;

/// <summary>A run folder's checkpoints: checkpoint-step{N}.safetensors, the newest found by N, old ones pruned.</summary>
public static partial class CheckpointDirectory
{
    [GeneratedRegex(@"^checkpoint-step(\d+)\.safetensors$")]
    private static partial Regex NamePattern();

    public static string PathFor(string runDir, long step) => Path.Combine(runDir, $"checkpoint-step{step.ToString(CultureInfo.InvariantCulture)}.safetensors");

    public static IReadOnlyList<(long Step, string Path)> List(string runDir) =>
        !Directory.Exists(runDir) ? [] :
        Directory.EnumerateFiles(runDir)
            .Select(f => (Match: NamePattern().Match(Path.GetFileName(f)), Path: f))
            .Where(x => x.Match.Success && long.TryParse(x.Match.Groups[1].Value, CultureInfo.InvariantCulture, out _))
            .Select(x => (long.Parse(x.Match.Groups[1].Value, CultureInfo.InvariantCulture), x.Path))
            .OrderBy(x => x.Item1).ToList();

    /// <summary>A checkpoint file as given, or the newest checkpoint in a run folder.</summary>
    public static string Resolve(string fileOrRunDir)
    {
        if (File.Exists(fileOrRunDir)) return fileOrRunDir;
        if (Directory.Exists(fileOrRunDir))
            return List(fileOrRunDir) is { Count: > 0 } all ? all[^1].Path
                : throw new BadInputException($"{fileOrRunDir}: no checkpoint-step<N>.safetensors in this folder");
        throw new BadInputException($"{fileOrRunDir}: not found; expected a checkpoint file or a run folder holding checkpoints");
    }

    /// <summary>Deletes all but the newest <paramref name="keep"/> checkpoints.</summary>
    public static void Prune(string runDir, int keep)
    {
        var all = List(runDir);
        for (int i = 0; i < all.Count - Math.Max(1, keep); i++) File.Delete(all[i].Path);
    }
}
