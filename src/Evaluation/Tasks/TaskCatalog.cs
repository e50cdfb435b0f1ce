using LlamaAdapter.Core;
using LlamaAdapter.Evaluation.Data;

namespace LlamaAdapter.Evaluation.Tasks;

/// <summary>
/// The task names the eval command knows and where their files are looked for under the data folder. A task whose
/// files are absent is an error naming every path tried.
/// </summary>
public static class TaskCatalog
{
    public static IReadOnlyList<string> Names { get; } = ["arc_easy", "arc_challenge", "hellaswag", "mmlu", "truthfulqa_mc1", "truthfulqa_mc2"];

    /// <summary>"a,b,c" → known names in the order given; an unknown one is an error listing the known ones.</summary>
    public static IReadOnlyList<string> Parse(string tasks)
    {
        var names = tasks.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (names.Length == 0) throw new BadInputException($"--tasks: expected one or more of {string.Join(", ", Names)}");
        foreach (var n in names)
            if (!Names.Contains(n)) throw new BadInputException($"--tasks: unknown task '{n}', expected one or more of {string.Join(", ", Names)}");
        return names.Distinct().ToArray();
    }

    public static async Task<EvalTask> LoadAsync(string name, string dataDir, bool needFewShot, bool skipBad = false, CancellationToken ct = default)
    {
        switch (name)
        {
            case "arc_easy":
            case "arc_challenge":
            {
                string set = name == "arc_easy" ? "ARC-Easy" : "ARC-Challenge";
                var test = await ArcReader.LoadAsync(Find(dataDir, name, ArcCandidates(set, "test", "Test")), skipBad, ct);
                var train = needFewShot ? await ArcReader.LoadAsync(Find(dataDir, $"{name} few-shot (train)", ArcCandidates(set, "train", "Train")), skipBad, ct) : null;
                IReadOnlyList<McDoc> pool = train?.Items.Select(HarnessFormats.Arc).ToArray() ?? [];
                // test_split "test" ≠ fewshot_split None: exactly n examples are drawn.
                return new EvalTask(name, TaskMetrics.AccAndNorm, [new EvalSubtask(name, test.Items.Select(HarnessFormats.Arc).ToArray(), pool, FewShotSampler.Random, DrawsOneExtra: false)])
                    { Skipped = test.Skipped + (train?.Skipped ?? 0) };
            }
            case "hellaswag":
            {
                var val = HellaSwagReader.Load(Find(dataDir, name, HellaSwagCandidates("val", "validation")), skipBad, ct);
                var train = needFewShot ? HellaSwagReader.Load(Find(dataDir, "hellaswag few-shot (train)", HellaSwagCandidates("train", "train")), skipBad, ct) : null;
                IReadOnlyList<McDoc> pool = train?.Items.Select(HarnessFormats.HellaSwag).ToArray() ?? [];
                // fewshot_split None == test_split None in the harness: n + 1 are drawn and the current doc dropped.
                return new EvalTask(name, TaskMetrics.AccAndNorm, [new EvalSubtask(name, val.Items.Select(HarnessFormats.HellaSwag).ToArray(), pool, FewShotSampler.Random, DrawsOneExtra: true)])
                    { Skipped = val.Skipped + (train?.Skipped ?? 0) };
            }
            case "truthfulqa_mc1":
            case "truthfulqa_mc2":
            {
                var loaded = TruthfulQaReader.Load(Find(dataDir, name, TruthfulQaCandidates), skipBad);
                var items = loaded.Items;
                Func<TruthfulQaItem, int, McDoc> format = name == "truthfulqa_mc1" ? HarnessFormats.TruthfulQaMc1 : HarnessFormats.TruthfulQaMc2;
                var docs = items.Select(format).ToArray();
                // No training split: the harness falls back to the validation docs themselves for few-shot.
                return new EvalTask(name, name == "truthfulqa_mc1" ? TaskMetrics.Mc1 : TaskMetrics.Mc2,
                    [new EvalSubtask(name, docs, docs, FewShotSampler.Random, DrawsOneExtra: true)]) { Skipped = loaded.Skipped };
            }
            case "mmlu":
                return await LoadMmluAsync(dataDir, needFewShot, skipBad, ct);
            default:
                throw new BadInputException($"--tasks: unknown task '{name}', expected one or more of {string.Join(", ", Names)}");
        }
    }

    private static async Task<EvalTask> LoadMmluAsync(string dataDir, bool needFewShot, bool skipBad, CancellationToken ct)
    {
        var skipped = new int[1];
        var test = await ReadMmluSplitAsync(dataDir, "test", skipBad, ct, skipped);
        var dev = needFewShot ? await ReadMmluSplitAsync(dataDir, "dev", skipBad, ct, skipped) : [];
        var subtasks = new List<EvalSubtask>();
        foreach (var subject in MmluSubjects.All)
        {
            if (!test.TryGetValue(subject, out var items)) throw new BadInputException($"{dataDir}: MMLU test data has no '{subject}' questions (all 57 subjects are needed)");
            var docs = items.Select((x, i) => HarnessFormats.Mmlu(x, $"{subject}/{i}")).ToArray();
            IReadOnlyList<McDoc> pool = dev.TryGetValue(subject, out var d) ? d.Select((x, i) => HarnessFormats.Mmlu(x, $"{subject}/dev/{i}")).ToArray() : [];
            subtasks.Add(new EvalSubtask($"mmlu_{subject}", docs, pool, FewShotSampler.FirstN, DrawsOneExtra: false, HarnessFormats.MmluDescription(subject)));
        }
        return new EvalTask("mmlu", TaskMetrics.Acc, subtasks) { Category = s => "mmlu_" + MmluSubjects.Category[s["mmlu_".Length..]], Skipped = skipped[0] };
    }

    /// <summary>Upstream data/{split}/{subject}_{split}.csv, or HF Parquet (all/{split}-*.parquet with a subject column).</summary>
    internal static async Task<Dictionary<string, List<MmluItem>>> ReadMmluSplitAsync(string dataDir, string split, bool skipBad, CancellationToken ct, int[]? skipped = null)
    {
        var bySubject = new Dictionary<string, List<MmluItem>>(StringComparer.Ordinal);
        string[] csvDirs = [Path.Combine(dataDir, "mmlu", "data", split), Path.Combine(dataDir, "mmlu", split), Path.Combine(dataDir, "data", split)];
        string[] parquetDirs = [Path.Combine(dataDir, "mmlu", "all"), Path.Combine(dataDir, "mmlu")];
        if (csvDirs.FirstOrDefault(d => Directory.Exists(d) && Directory.EnumerateFiles(d, $"*_{split}.csv").Any()) is { } csvDir)
        {
            foreach (var f in Directory.EnumerateFiles(csvDir, $"*_{split}.csv").Order(StringComparer.Ordinal))
                Take(MmluReader.LoadCsv(f, skipBad));
        }
        else if (parquetDirs.FirstOrDefault(d => Directory.Exists(d) && Directory.EnumerateFiles(d, $"{split}-*.parquet").Any()) is { } pqDir)
        {
            foreach (var f in Directory.EnumerateFiles(pqDir, $"{split}-*.parquet").Order(StringComparer.Ordinal))
                Take(await MmluReader.LoadParquetAsync(f, null, skipBad, ct));
        }
        else
            throw new BadInputException($"mmlu: no {split} data found: looked for *_{split}.csv in {string.Join(", ", csvDirs)} and {split}-*.parquet in {string.Join(", ", parquetDirs)}");
        return bySubject;

        void Take(Loaded<MmluItem> loaded)
        {
            if (skipped is not null) skipped[0] += loaded.Skipped;
            foreach (var x in loaded.Items) Add(x);
        }

        void Add(MmluItem x)
        {
            if (!bySubject.TryGetValue(x.Subject, out var list)) bySubject[x.Subject] = list = [];
            list.Add(x);
        }
    }

    internal static string[] ArcCandidates(string set, string split, string upstreamSplit) =>
        [.. new[] { "", "ai2_arc", "arc" }.SelectMany(root => new[]
        {
            Path.Combine(root, set, $"{split}-00000-of-00001.parquet"),
            Path.Combine(root, set, $"{split}.jsonl"),
            Path.Combine(root, set, $"{set}-{upstreamSplit}.jsonl"),
        })];

    internal static readonly string[] TruthfulQaCandidates = ["TruthfulQA.csv", "truthfulqa/TruthfulQA.csv", "TruthfulQA/TruthfulQA.csv"];

    private static string[] HellaSwagCandidates(string upstream, string hf) =>
        [$"hellaswag/hellaswag_{upstream}.jsonl", $"hellaswag/{hf}.jsonl", $"hellaswag_{upstream}.jsonl"];

    internal static string Find(string dataDir, string what, IReadOnlyList<string> candidates)
    {
        foreach (var c in candidates)
        {
            var p = Path.Combine(dataDir, c);
            if (File.Exists(p)) return p;
        }
        throw new BadInputException($"{what}: data not found under {dataDir}: looked for {string.Join(", ", candidates)}");
    }
}
