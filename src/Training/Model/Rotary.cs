using LlamaAdapter.Core.Config;
using TorchSharp;
using static TorchSharp.torch;

namespace LlamaAdapter.Training.Model;

/// <summary>
/// Rotary position embedding. Frequencies, angles and the rotation itself are computed in float32 and the result is
/// cast back, as both references do (Meta <c>precompute_freqs_cis</c> + <c>apply_rotary_emb</c> on <c>x.float()</c>;
/// HF computes <c>inv_freq</c> and the angles in float32 too).
/// </summary>
public sealed class Rotary(int headDim, double theta, RopeScaling? scaling, RopeLayout layout)
{
    public RopeLayout Layout => layout;

    /// <summary>Throws <see cref="ArgumentException"/> for scaling parameters that would divide by zero or invert the bands.</summary>
    public static void Check(RopeScaling? s)
    {
        if (s is null || s.Type == RopeScalingType.None) return;
        if (!(s.Factor > 0)) throw new ArgumentException($"rope scaling {s.Type}: factor = {s.Factor}, expected > 0");
        if (s.Type == RopeScalingType.Llama3
            && !(s.LowFreqFactor > 0 && s.HighFreqFactor > s.LowFreqFactor && s.OriginalContextLength > 0))
            throw new ArgumentException($"rope scaling llama3: expected 0 < low_freq_factor < high_freq_factor and original context > 0 ({s})");
    }

    /// <summary>θ_i = theta^(−2i/d), i &lt; d/2, then the config's scaling. [d/2] float32.</summary>
    public Tensor InverseFrequencies(Device device)
    {
        // Same float32 expression as Meta: 1 / theta ** (arange(0, d, 2).float() / d).
        var exponents = arange(0, headDim, 2, dtype: ScalarType.Float32, device: device) / headDim;
        var invFreq = pow(tensor(theta, dtype: ScalarType.Float32, device: device), exponents).reciprocal();
        return scaling?.Type switch
        {
            null or RopeScalingType.None => invFreq,
            // HF _compute_linear_scaling_rope_parameters: positions divided by the factor == inv_freq / factor.
            RopeScalingType.Linear => invFreq / scaling.Factor,
            RopeScalingType.Llama3 => Llama3(invFreq, scaling),
            _ => throw new ArgumentOutOfRangeException(nameof(scaling), scaling.Type, "unknown rope scaling"),
        };
    }

    // Meta llama3 apply_scaling / HF _compute_llama3_parameters: high frequencies kept, low ones divided by the
    // factor, the band between blended linearly in old_context/wavelength.
    private static Tensor Llama3(Tensor invFreq, RopeScaling s)
    {
        double lowFreqWavelen = s.OriginalContextLength / s.LowFreqFactor;
        double highFreqWavelen = s.OriginalContextLength / s.HighFreqFactor;
        var wavelen = 2 * Math.PI / invFreq;
        var scaled = where(wavelen > lowFreqWavelen, invFreq / s.Factor, invFreq);
        var smooth = (s.OriginalContextLength / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
        var smoothed = (1 - smooth) * scaled / s.Factor + smooth * scaled;
        var medium = (wavelen >= highFreqWavelen).logical_and(wavelen <= lowFreqWavelen);
        return where(medium, smoothed, scaled);
    }

    /// <summary>cos and sin of position·θ_i for positions [start, start+T): two [T, d/2] float32 tensors.</summary>
    public (Tensor Cos, Tensor Sin) Angles(long start, long length, Device device)
    {
        var positions = arange(start, start + length, dtype: ScalarType.Float32, device: device);
        var angles = outer(positions, InverseFrequencies(device)); // [T, d/2]
        return (angles.cos(), angles.sin());
    }

    /// <summary>Rotates x [B, T, H, d] by the angles of its positions; same dtype out.</summary>
    public Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        var (b, t, h, d) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]);
        var xf = x.to(Precision.AtLeastFloat32(x.dtype));
        var c = cos.view(1, t, 1, d / 2).to(xf.dtype);
        var s = sin.view(1, t, 1, d / 2).to(xf.dtype);
        Tensor rotated;
        if (layout == RopeLayout.Interleaved)
        {
            // (a + ib)(cos + i sin) on pairs (2i, 2i+1).
            var pairs = xf.view(b, t, h, d / 2, 2);
            var a = pairs.select(-1, 0);
            var bb = pairs.select(-1, 1);
            rotated = stack([(a * c).Minus(bb * s), (a * s).Plus(bb * c)], -1).view(b, t, h, d);
        }
        else
        {
            // q·cos + rotate_half(q)·sin with rotate_half(q) = [−q2, q1] on halves (i, i + d/2).
            var q1 = xf.narrow(-1, 0, d / 2);
            var q2 = xf.narrow(-1, d / 2, d / 2);
            rotated = cat([(q1 * c).Minus(q2 * s), (q2 * c).Plus(q1 * s)], -1);
        }
        return rotated.to(x.dtype);
    }
}
