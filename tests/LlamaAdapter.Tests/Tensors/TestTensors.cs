namespace LlamaAdapter.Tests.Tensors;

/// <summary>
/// Float tensors of many shapes of distribution for the conversion tests, generated from fixed seeds.
/// "weight_like" stands in for a real checkpoint (none is available here): N(0, 0.02) rows with per-row scales
/// spread over a decade and a few outlier columns 20-60x larger, as LLaMA's attention and MLP weights have.
/// </summary>
internal static class TestTensors
{
    public const int Rows = 24;
    public const int RowLength = 512;

    public static readonly string[] FiniteKinds =
    [
        "gaussian", "uniform", "heavy_tailed", "zero_rows", "constant_rows", "tiny", "subnormal", "huge", "single_spike",
        "q8_ties", "q4_ties", "half_ties", "sign_ties", "weight_like", "mixed_rows",
    ];

    public static readonly string[] NonFiniteKinds = ["inf_nan", "float_bit_patterns"];

    public static TheoryData<string> Finite() => new(FiniteKinds);
    public static TheoryData<string> All() => new([.. FiniteKinds, .. NonFiniteKinds]);

    public static float[] Make(string kind, int rows = Rows, int rowLength = RowLength)
    {
        var rng = new Random(kind.Aggregate(0x5EED, (h, c) => h * 31 + c)); // string.GetHashCode differs per process
        var x = new float[rows * rowLength];
        for (int r = 0; r < rows; r++)
        {
            var row = x.AsSpan(r * rowLength, rowLength);
            switch (kind)
            {
                case "gaussian": Fill(row, _ => Gaussian(rng)); break;
                case "uniform": Fill(row, _ => (float)(rng.NextDouble() * 2 - 1)); break;
                case "heavy_tailed": Fill(row, _ => (float)Math.Tan(Math.PI * (rng.NextDouble() - 0.5))); break; // Cauchy
                case "zero_rows": Fill(row, _ => r % 2 == 0 ? 0f : Gaussian(rng)); break;
                case "constant_rows": row.Fill(r % 3 == 0 ? -0.75f : r % 3 == 1 ? 3.0f : 1e-3f); break;
                case "tiny": Fill(row, _ => Gaussian(rng) * 1e-6f); break; // fp16 subnormal range
                case "subnormal": Fill(row, _ => BitConverter.UInt32BitsToSingle((uint)rng.Next(0, 0x00800000) | (rng.Next(2) == 0 ? 0 : 0x80000000u))); break;
                case "huge": Fill(row, _ => Gaussian(rng) * 1e30f); break;
                case "single_spike": row.Clear(); Fill(row, _ => Gaussian(rng) * 1e-3f); row[rng.Next(rowLength)] = r % 2 == 0 ? 50f : -50f; break;
                case "q8_ties":
                    // amax 127 gives d = 1 exactly, so x * id is x: every k + 0.5 is a roundf tie.
                    Fill(row, j => j % 32 == 0 ? 127f : rng.Next(-126, 126) + 0.5f); break;
                case "q4_ties":
                    // max -8 gives d = 1 exactly; x + 8.5 lands on integers and halves, and the max's sign flips by row.
                    Fill(row, j => j % 32 == 5 ? (r % 2 == 0 ? -8f : 8f) : rng.Next(-16, 16) * 0.5f); break;
                case "half_ties":
                    // Floats exactly halfway between neighbouring halves (normal and subnormal), for round-to-even.
                    Fill(row, _ => HalfMidpoint(rng)); break;
                case "sign_ties":
                    // +a and -a both reach the block's largest magnitude: Q4_0 must keep the first.
                    Fill(row, j => j % 32 == 7 ? (r % 2 == 0 ? 2f : -2f) : j % 32 == 19 ? (r % 2 == 0 ? -2f : 2f) : Gaussian(rng)); break;
                case "weight_like": WeightLike(row, rng, r); break;
                case "mixed_rows":
                    float scale = MathF.Pow(10, rng.Next(-8, 9));
                    Fill(row, _ => Gaussian(rng) * scale); break;
                case "inf_nan":
                    Fill(row, _ => rng.Next(6) switch
                    {
                        0 => float.PositiveInfinity, 1 => float.NegativeInfinity, 2 => float.NaN, 3 => -float.NaN,
                        4 => BitConverter.UInt32BitsToSingle(0x7F800001u | (uint)rng.Next(0, 1 << 22)), // signalling NaNs
                        _ => Gaussian(rng) * 70000f, // around fp16's overflow to infinity at 65520
                    }); break;
                case "ternary": float a = 0.01f + r * 0.003f; Fill(row, _ => rng.Next(3) switch { 0 => -a, 1 => 0f, _ => a }); break;
                case "float_bit_patterns": Fill(row, _ => BitConverter.UInt32BitsToSingle((uint)rng.NextInt64(0, 1L << 32))); break;
                default: throw new ArgumentException(kind);
            }
        }
        return x;
    }

    private static void WeightLike(Span<float> row, Random rng, int r)
    {
        float scale = 0.02f * MathF.Pow(10, (float)rng.NextDouble() - 0.5f);
        for (int j = 0; j < row.Length; j++)
        {
            float v = Gaussian(rng) * scale;
            if (j % 97 == 13) v *= 20 + 40 * (float)rng.NextDouble(); // outlier feature columns
            row[j] = v;
        }
        if (r % 8 == 3) row[rng.Next(row.Length)] = 0.9f; // an occasional large single weight
    }

    private static float HalfMidpoint(Random rng)
    {
        // Between halves h and h + 1 (same sign, exponent < 30 so h + 1 is finite): their float values are exact.
        ushort h = (ushort)rng.Next(0, 0x7BFF);
        float lo = (float)BitConverter.UInt16BitsToHalf(h), hi = (float)BitConverter.UInt16BitsToHalf((ushort)(h + 1));
        float mid = (float)(((double)lo + hi) / 2);
        return rng.Next(2) == 0 ? mid : -mid;
    }

    private static void Fill(Span<float> row, Func<int, float> f)
    {
        for (int j = 0; j < row.Length; j++) row[j] = f(j);
    }

    public static float Gaussian(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }
}
