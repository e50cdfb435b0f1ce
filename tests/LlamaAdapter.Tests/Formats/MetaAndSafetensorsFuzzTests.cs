using LlamaAdapter.Core;
using LlamaAdapter.Core.Formats.Meta;
using LlamaAdapter.Core.Formats.Safetensors;

namespace LlamaAdapter.Tests.Formats;

/// <summary>Corrupted files must end in a BadInputException (or read successfully), never another exception or a crash.</summary>
public sealed class MetaAndSafetensorsFuzzTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fuzz-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void Fuzz(byte[] valid, int firstByte, int lastByte, Action<string> open, int seed)
    {
        var rng = new Random(seed);
        for (int trial = 0; trial < 200; trial++)
        {
            var b = (byte[])valid.Clone();
            int flips = rng.Next(1, 4);
            for (int k = 0; k < flips; k++)
            {
                int at = rng.Next(firstByte, Math.Min(lastByte, b.Length));
                b[at] = rng.Next(3) switch { 0 => 0xFF, 1 => 0, _ => (byte)rng.Next(256) };
            }
            if (rng.Next(8) == 0) b = b[..rng.Next(1, b.Length)];
            string p = Path.Combine(_dir, $"f{trial}");
            File.WriteAllBytes(p, b);
            try { open(p); }
            catch (BadInputException) { }
            catch (Exception e) { Assert.Fail($"trial {trial}: {e.GetType().Name} escaped: {e.Message}"); }
        }
    }

    [Fact]
    public void CorruptSafetensorsHeaders_AreBadInput()
    {
        string p = Path.Combine(_dir, "v.safetensors");
        using (var w = new SafetensorsWriter(p, [new("a", SafetensorsDType.F32, [2, 3]), new("b", SafetensorsDType.BF16, [4])], new Dictionary<string, string> { ["k"] = "v" }))
        {
            w.Write(new byte[32]);
            w.Commit();
        }
        byte[] valid = File.ReadAllBytes(p);
        Fuzz(valid, 0, valid.Length - 32, f =>
        {
            using var r = SafetensorsReader.Open(f);
            foreach (var t in r.Tensors) _ = r.GetBytes(t.Name).Length;
        }, seed: 1);
    }

    [Fact]
    public void CorruptCheckpoints_AreBadInput()
    {
        byte[] valid = MetaFixture.Checkpoint(zip64: true);
        void Open(string f)
        {
            using var c = TorchCheckpoint.Open(f);
            foreach (var t in c.Tensors) _ = c.GetBytes(t.Name).Length;
        }
        Fuzz(valid, 0, 700, Open, seed: 2);                           // data.pkl and the first local headers
        Fuzz(valid, valid.Length - 1400, valid.Length, Open, seed: 3); // central directory and end records
    }
}
