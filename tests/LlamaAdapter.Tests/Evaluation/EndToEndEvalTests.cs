using LlamaAdapter.Core;
using LlamaAdapter.Evaluation;
using LlamaAdapter.Evaluation.Metrics;
using LlamaAdapter.Evaluation.Reports;
using LlamaAdapter.Evaluation.Scoring;
using LlamaAdapter.Evaluation.Tasks;

namespace LlamaAdapter.Tests.Evaluation;

/// <summary>
/// The whole path on a tiny random model, the byte tokenizer and synthetic files in each layout the catalog looks
/// for: every reported number is recomputed from the per-document log-likelihoods, and those from the scorer.
/// </summary>
public class EndToEndEvalTests
{
    private static void WriteData(TempDir dir)
    {
        string Arc(int i, string key) =>
            $$"""{"id": "q{{i}}", "question": "Question number {{i}}?", "choices": {"text": ["alpha {{i}}", "beta", "gamma gamma", "d"], "label": ["A", "B", "C", "D"]}, "answerKey": "{{key}}"}""";
        dir.File("ARC-Easy/test.jsonl", string.Join("\n", Enumerable.Range(0, 5).Select(i => Arc(i, "ABCD"[i % 4].ToString()))));
        dir.File("ARC-Easy/train.jsonl", string.Join("\n", Enumerable.Range(10, 6).Select(i => Arc(i, "B"))));
        dir.File("TruthfulQA.csv",
            "Type,Category,Question,Best Answer,Correct Answers,Incorrect Answers,Source\n" +
            "Adversarial,Misc,Is the sky blue?,Yes,Yes; Mostly,No; It is green,s\n" +
            "Adversarial,Misc,Do fish swim?,They do,They do,They fly; They walk; They drive,s\n" +
            "Adversarial,Misc,Is ice cold?,Yes it is,Yes it is,No,s\n");
        foreach (var subject in MmluSubjects.All)
        {
            dir.File($"mmlu/data/test/{subject}_test.csv", $"What about {subject}?,w,x,y,z,B\nAnd \"\"{subject}\"\" again?,1,2,3,4,D\n");
            dir.File($"mmlu/data/dev/{subject}_dev.csv", $"Dev {subject}?,p,q,r,s,A\n");
        }
        string Hs(int i) => $$"""{"ind": {{i}}, "activity_label": "Act", "ctx_a": "Someone does thing {{i}}.", "ctx_b": "THEY", "label": {{i % 4}}, "endings": ["stop.", "go on [title] more.", "wait", "run far"]}""";
        dir.File("hellaswag/hellaswag_val.jsonl", string.Join("\n", Enumerable.Range(0, 3).Select(Hs)));
        dir.File("hellaswag/hellaswag_train.jsonl", string.Join("\n", Enumerable.Range(100, 8).Select(Hs)));
    }

    [Fact]
    public async Task AllTasks_OnTinyModel_ReportIsConsistent()
    {
        using var dir = new TempDir();
        WriteData(dir);
        using var model = LogLikelihoodScorerTests.TinyModel(context: 256);
        var tok = new ByteTokenizer();
        var scorer = new TorchLogLikelihoodModel(model, batchSize: 3);
        var names = TaskCatalog.Parse("arc_easy,hellaswag,mmlu,truthfulqa_mc1,truthfulqa_mc2");
        var tasks = new List<EvalTask>();
        foreach (var n in names) tasks.Add(await TaskCatalog.LoadAsync(n, dir.Path, needFewShot: true));
        var options = new EvalOptions(Shots: 1, Limit: 4, Seed: 1234);
        var progress = new List<EvalProgress>();
        var report = new Evaluator(scorer, tok).Run(tasks, options, new EvalSettings(names, 1, 4, 1234, "tiny"), new SyncProgress(progress));

        // 4 ARC + 3 HellaSwag + 57·2 MMLU + 3 + 3 TruthfulQA documents.
        Assert.Equal(4 + 3 + 114 + 3 + 3, progress.Count);
        Assert.Equal(progress.Count, progress[^1].Done);

        var arc = report.Samples.Single(s => s.Name == "arc_easy");
        Assert.Equal(4, arc.Docs.Count);
        foreach (var d in arc.Docs)
        {
            // One ARC train example (1-shot), then the question.
            Assert.Matches(@"^Question: Question number 1\d\?\nAnswer: beta\n\nQuestion: Question number \d\?\nAnswer:$", d.Context);
            var again = scorer.Score(d.Choices.Select(c => HarnessEncoding.EncodePair(tok, d.Context, " " + c)).ToArray());
            // Scored here alone, in the run batched with other documents (other padding): equal to float32 rounding.
            Assert.All(again.Zip(d.LogLikelihoods), p => Assert.InRange(Math.Abs(p.First.LogProb - p.Second), 0, 1e-5));
            Assert.Equal(ChoiceMetrics.Predict(d.LogLikelihoods), d.Prediction);
        }
        var arcRow = report.Results.Single(r => r.Name == "arc_easy");
        Assert.Equal(arc.Docs.Average(d => d.Prediction == d.Gold ? 1.0 : 0.0), arcRow.Metrics["acc"].Value, 12);
        Assert.Equal(Aggregate.Mean(arc.Docs.Select(d => d.PredictionNorm == d.Gold ? 1.0 : 0.0).ToArray()), arcRow.Metrics["acc_norm"]);

        // HellaSwag contexts are preprocessed and capitalised; the 1-shot example is from train.
        var hs = report.Samples.Single(s => s.Name == "hellaswag");
        Assert.All(hs.Docs, d => Assert.Matches(@"^Act: Someone does thing 1\d\d\. They .+\n\nAct: Someone does thing \d\. They$", d.Context));
        Assert.Equal(["stop.", "go on. more.", "wait", "run far"], hs.Docs[0].Choices);

        // MMLU: 57 subjects × 2 docs (limit is per subject), 4 categories, pooled by size.
        var mmlu = report.Results.Single(r => r.Name == "mmlu");
        Assert.Equal(114, mmlu.Metrics["acc"].Count);
        var subjects = report.Results.Where(r => r.Level == 2).ToList();
        Assert.Equal(57, subjects.Count);
        Assert.Equal(subjects.Sum(s => s.Metrics["acc"].Value * 2) / 114, mmlu.Metrics["acc"].Value, 12);
        var categories = report.Results.Where(r => r.Level == 1).ToList();
        Assert.Equal(["mmlu_humanities", "mmlu_other", "mmlu_social_sciences", "mmlu_stem"], categories.Select(c => c.Name));
        var algebra = report.Samples.Single(s => s.Name == "mmlu_abstract_algebra").Docs[0];
        Assert.Equal("The following are multiple choice questions (with answers) about abstract algebra.\n\n" +
                     "Dev abstract_algebra?\nA. p\nB. q\nC. r\nD. s\nAnswer: A\n\n" +
                     "What about abstract_algebra?\nA. w\nB. x\nC. y\nD. z\nAnswer:", algebra.Context);

        // mc2 from its lls; mc1 = gold 0 wins.
        var mc2 = report.Samples.Single(s => s.Name == "truthfulqa_mc2");
        Assert.All(mc2.Docs, d => Assert.Equal(ChoiceMetrics.Mc2(d.LogLikelihoods, d.Labels!), d.Mc2!.Value, 12));
        Assert.Equal(mc2.Docs.Average(d => d.Mc2!.Value), report.Results.Single(r => r.Name == "truthfulqa_mc2").Metrics["acc"].Value, 12);
        var mc1 = report.Samples.Single(s => s.Name == "truthfulqa_mc1");
        Assert.Equal(mc1.Docs.Average(d => d.Prediction == 0 ? 1.0 : 0.0), report.Results.Single(r => r.Name == "truthfulqa_mc1").Metrics["acc"].Value, 12);

        // JSON round trip keeps the numbers.
        var path = dir.Combine("out/results.json");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        EvalReportJson.Write(path, report);
        var back = EvalReportJson.Deserialize(File.ReadAllText(path))!;
        Assert.Equal(report.Results.Count, back.Results.Count);
        Assert.Equal(arcRow.Metrics["acc_norm"].Value, back.Results.Single(r => r.Name == "arc_easy").Metrics["acc_norm"].Value);
        Assert.Equal(arc.Docs[0].LogLikelihoods, back.Samples.Single(s => s.Name == "arc_easy").Docs[0].LogLikelihoods);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(path)!, "*.tmp"));
    }

    [Fact]
    public async Task Errors_UnknownTask_MissingData_FewShotWithoutPool()
    {
        var e = Assert.Throws<BadInputException>(() => TaskCatalog.Parse("arc_easy,winogrande"));
        Assert.Contains("unknown task 'winogrande'", e.Message);
        Assert.Contains("arc_easy, arc_challenge, hellaswag, mmlu, truthfulqa_mc1, truthfulqa_mc2", e.Message);

        using var dir = new TempDir();
        var missing = await Assert.ThrowsAsync<BadInputException>(() => TaskCatalog.LoadAsync("arc_challenge", dir.Path, needFewShot: false));
        Assert.Contains("ARC-Challenge", missing.Message);

        WriteData(dir);
        var task = await TaskCatalog.LoadAsync("arc_easy", dir.Path, needFewShot: false);
        using var model = LogLikelihoodScorerTests.TinyModel();
        var ev = new Evaluator(new TorchLogLikelihoodModel(model), new ByteTokenizer());
        var few = Assert.Throws<BadInputException>(() => ev.Run([task], new EvalOptions(Shots: 2), new EvalSettings(["arc_easy"], 2, null, 1234, "tiny")));
        Assert.Contains("--shots 2", few.Message);
        Assert.Throws<BadInputException>(() => ev.Run([task], new EvalOptions(Limit: 0), new EvalSettings(["arc_easy"], null, 0, 1234, "tiny")));
    }

    [Fact]
    public async Task SkipBad_CountsDroppedRecordsIntoTheReport()
    {
        using var dir = new TempDir();
        WriteData(dir);
        dir.File("ARC-Easy/test.jsonl", File.ReadAllText(dir.Combine("ARC-Easy/test.jsonl")) + "\n{\"id\": \"bad\"}\nnot json\n");
        await Assert.ThrowsAsync<LlamaAdapter.Evaluation.Data.EvalRecordException>(() => TaskCatalog.LoadAsync("arc_easy", dir.Path, needFewShot: false));
        var task = await TaskCatalog.LoadAsync("arc_easy", dir.Path, needFewShot: false, skipBad: true);
        Assert.Equal(2, task.Skipped);
        using var model = LogLikelihoodScorerTests.TinyModel();
        var report = new Evaluator(new TorchLogLikelihoodModel(model), new ByteTokenizer()).Run([task], new EvalOptions(Limit: 1), new EvalSettings(["arc_easy"], null, 1, 1234, "tiny"));
        Assert.Equal(2, report.SkippedRecords!["arc_easy"]);
    }

    /// <summary>Progress<T> posts to the thread pool; tests want the reports in order, on the caller's thread.</summary>
    private sealed class SyncProgress(List<EvalProgress> sink) : IProgress<EvalProgress>
    {
        public void Report(EvalProgress value) => sink.Add(value);
    }
}
