using System.Text;

namespace LlamaAdapter.Evaluation.Generative;

/// <summary>
/// CPython's <c>difflib.SequenceMatcher(None, a, b)</c> over Unicode code points, as far as <c>ratio()</c> needs it:
/// b2j with the autojunk rule (b of 200+ elements: an element occurring more than len(b)//100 + 1 times cannot start
/// a match, though a match may still be extended over it), find_longest_match, and the recursive matching blocks.
/// ratio = 2·M / (len(a) + len(b)), 1.0 for two empty sequences.
/// </summary>
public sealed class SequenceMatcher
{
    private readonly int[] a, b;
    private readonly Dictionary<int, List<int>> b2j = [];

    public SequenceMatcher(string a, string b, bool autojunk = true)
    {
        this.a = CodePoints(a);
        this.b = CodePoints(b);
        for (int j = 0; j < this.b.Length; j++)
        {
            if (!b2j.TryGetValue(this.b[j], out var list)) b2j[this.b[j]] = list = [];
            list.Add(j);
        }
        int n = this.b.Length;
        if (autojunk && n >= 200)
        {
            int ntest = n / 100 + 1;
            foreach (var popular in b2j.Where(kv => kv.Value.Count > ntest).Select(kv => kv.Key).ToList()) b2j.Remove(popular);
        }
    }

    private static int[] CodePoints(string s) => s.EnumerateRunes().Select(r => r.Value).ToArray();

    /// <summary>The longest a[i..i+k) == b[j..j+k) within the bounds, earliest in a then in b, extended over popular elements.</summary>
    public (int I, int J, int K) FindLongestMatch(int alo, int ahi, int blo, int bhi)
    {
        int besti = alo, bestj = blo, bestsize = 0;
        var j2len = new Dictionary<int, int>();
        for (int i = alo; i < ahi; i++)
        {
            var newj2len = new Dictionary<int, int>();
            if (b2j.TryGetValue(a[i], out var js))
            {
                foreach (int j in js)
                {
                    if (j < blo) continue;
                    if (j >= bhi) break;
                    int k = newj2len[j] = j2len.GetValueOrDefault(j - 1) + 1;
                    if (k > bestsize) { besti = i - k + 1; bestj = j - k + 1; bestsize = k; }
                }
            }
            j2len = newj2len;
        }
        // No element is junk (isjunk is None), so only the non-junk extension applies.
        while (besti > alo && bestj > blo && a[besti - 1] == b[bestj - 1]) { besti--; bestj--; bestsize++; }
        while (besti + bestsize < ahi && bestj + bestsize < bhi && a[besti + bestsize] == b[bestj + bestsize]) bestsize++;
        return (besti, bestj, bestsize);
    }

    /// <summary>Σ sizes of get_matching_blocks() (the order of discovery does not change the sum).</summary>
    public int Matches()
    {
        int total = 0;
        var queue = new Stack<(int, int, int, int)>();
        queue.Push((0, a.Length, 0, b.Length));
        while (queue.Count > 0)
        {
            var (alo, ahi, blo, bhi) = queue.Pop();
            var (i, j, k) = FindLongestMatch(alo, ahi, blo, bhi);
            if (k == 0) continue;
            total += k;
            if (alo < i && blo < j) queue.Push((alo, i, blo, j));
            if (i + k < ahi && j + k < bhi) queue.Push((i + k, ahi, j + k, bhi));
        }
        return total;
    }

    public double Ratio()
    {
        int length = a.Length + b.Length;
        return length == 0 ? 1.0 : 2.0 * Matches() / length;
    }
}
