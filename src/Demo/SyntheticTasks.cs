using LlamaAdapter.Core.Data;

namespace LlamaAdapter.Demo;

/// <summary>
/// The demo's data. <see cref="Pretraining"/> skills teach a small LLaMA from scratch to follow Alpaca-formatted
/// instructions about short random words and numbers; <see cref="HeldApart"/> tasks are never shown to it and are
/// what the adapters are tuned on: each asks for a skill the base has in new words, or for skills recombined (the
/// last letter from "first letter" and "reverse", the number before from "the number after"), so a frozen model
/// that meets the instruction for the first time answers with the wrong skill or none, and a few hundred examples
/// teach an adapter to route it.
/// Random letter strings, not words, so nothing is memorised from the inputs.
/// </summary>
public static class SyntheticTasks
{
    private static string Word(Random r, int min = 3, int max = 6)
    {
        var c = new char[r.Next(min, max + 1)];
        for (int i = 0; i < c.Length; i++) c[i] = (char)('a' + r.Next(26));
        return new string(c);
    }

    private static string Reverse(string s) { var c = s.ToCharArray(); Array.Reverse(c); return new string(c); }
    private static string Upper(string s) => s.ToUpperInvariant();
    private static string Num(int v) => v.ToString(System.Globalization.CultureInfo.InvariantCulture);
    private static int ParseNum(string s) => int.Parse(s, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>What other word tasks answer for the same word: the distractors of a word task.</summary>
    private static IEnumerable<string> WordAnswers(string w) =>
        [Reverse(w), Upper(w), w[..1], w[^1..], Upper(Reverse(w)), w + w, Num(w.Length), w];

    private static IEnumerable<string> NumberAnswers(int n) => [Num(n + 1), Num(n - 1), Num(n + 2), Num(n), Num(2 * n)];

    private static SyntheticTask WordTask(string name, string[] instructions, Func<string, string> answer) =>
        new(name, instructions, r => Word(r), answer, (w, _) => WordAnswers(w));

    /// <summary>The base model's curriculum.</summary>
    public static IReadOnlyList<SyntheticTask> Pretraining { get; } =
    [
        WordTask("reverse", ["Reverse the letters of the word.", "Write the word backwards."], Reverse),
        WordTask("uppercase", ["Write the word in capital letters.", "Make every letter of the word a capital."], Upper),
        WordTask("first_letter", ["What is the first letter of the word?", "Give the first letter of the word."], w => w[..1]),
        WordTask("length", ["How many letters does the word have?", "Count the letters of the word."], w => Num(w.Length)),
        WordTask("twice", ["Write the word twice.", "Repeat the word two times."], w => w + w),
        new("next_number", ["What number comes after this one?", "Add one to the number."],
            r => Num(r.Next(0, 99)), s => Num(ParseNum(s) + 1), (s, _) => NumberAnswers(ParseNum(s))),
        new("addition", ["Add the two numbers.", "What is the sum of the two numbers?"],
            r => $"{r.Next(0, 50)} + {r.Next(0, 50)}",
            s => Num(s.Split(" + ").Sum(ParseNum)),
            (s, _) => { var p = s.Split(" + ").Select(ParseNum).ToArray(); return [Num(p[0] + p[1] + 1), Num(p[0] + p[1] - 1), Num(p[0]), Num(p[1]), Num(p[0] * 10 + p[1])]; }),
    ];

    /// <summary>
    /// The tasks the adapters learn; the frozen model never saw their instructions. Two ask for a skill it has in
    /// words it never read, two need skills combined (the last letter; the number before).
    /// </summary>
    public static IReadOnlyList<SyntheticTask> HeldApart { get; } =
    [
        WordTask("spell_backwards", ["Spell the word from its end to its start.", "Turn the word around."], Reverse),
        WordTask("shout", ["Shout the word.", "Say the word loudly."], Upper),
        WordTask("last_letter", ["What is the last letter of the word?", "Give the last letter of the word."], w => w[^1..]),
        new("previous_number", ["What number comes before this one?", "Subtract one from the number."],
            r => Num(r.Next(1, 100)), s => Num(ParseNum(s) - 1), (s, _) => NumberAnswers(ParseNum(s))),
    ];

    /// <summary>Every instruction of every task: the demo vocabulary gives each of their words one token.</summary>
    public static IEnumerable<string> AllInstructions => Pretraining.Concat(HeldApart).SelectMany(t => t.Instructions);

    /// <summary><paramref name="count"/> Alpaca records drawn round-robin over <paramref name="tasks"/>, seeded.</summary>
    public static List<AlpacaExample> Examples(IReadOnlyList<SyntheticTask> tasks, int count, int seed)
    {
        var r = new Random(seed);
        var list = new List<AlpacaExample>(count);
        for (int i = 0; i < count; i++)
        {
            var t = tasks[i % tasks.Count];
            string input = t.MakeInput(r);
            list.Add(new AlpacaExample(t.Instructions[r.Next(t.Instructions.Count)], input, t.Answer(input)));
        }
        return list;
    }

    /// <summary>A held-out question with its right answer and <paramref name="choices"/> − 1 wrong ones, shuffled.</summary>
    public sealed record Item(string Task, AlpacaExample Example, IReadOnlyList<string> Choices, int Gold);

    /// <summary>
    /// Held-out questions from real records: each one's own output against <paramref name="choices"/> − 1 outputs of
    /// the other held-out records (which response answers this instruction), shuffled, seeded.
    /// </summary>
    public static List<Item> ItemsFrom(IReadOnlyList<AlpacaExample> records, int seed, int choices = 4)
    {
        var r = new Random(seed);
        var outputs = records.Select(e => e.Output).Distinct().ToList();
        if (outputs.Count < choices) throw new ArgumentException($"{records.Count} held-out records have {outputs.Count} distinct outputs; expected at least {choices}");
        return records.Select(e =>
        {
            var wrong = outputs.Where(o => o != e.Output).OrderBy(_ => r.Next()).Take(choices - 1);
            var all = wrong.Append(e.Output).OrderBy(_ => r.Next()).ToList();
            return new Item("held-out records", e, all, all.IndexOf(e.Output));
        }).ToList();
    }

    public static List<Item> Items(IReadOnlyList<SyntheticTask> tasks, int count, int seed, int choices = 4)
    {
        var r = new Random(seed);
        var items = new List<Item>(count);
        for (int i = 0; i < count; i++)
        {
            var t = tasks[i % tasks.Count];
            string input = t.MakeInput(r), answer = t.Answer(input);
            var wrong = t.WrongAnswers(input, r).Where(a => a != answer).Distinct().OrderBy(_ => r.Next()).Take(choices - 1).ToList();
            var all = wrong.Append(answer).OrderBy(_ => r.Next()).ToList();
            items.Add(new Item(t.Name, new AlpacaExample(t.Instructions[r.Next(t.Instructions.Count)], input, answer), all, all.IndexOf(answer)));
        }
        return items;
    }
}
