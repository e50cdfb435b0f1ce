namespace LlamaAdapter.Core.Config;

/// <summary>How rotary frequencies are stretched beyond the training context (HF rope_scaling / GGUF llama.rope.scaling.*).</summary>
public enum RopeScalingType { None, Linear, Llama3 }

public sealed record RopeScaling(
    RopeScalingType Type,
    double Factor = 1.0,
    double LowFreqFactor = 1.0,
    double HighFreqFactor = 4.0,
    int OriginalContextLength = 8192);

/// <summary>
/// The shape of a LLaMA-family model (1, 2 and 3; GQA when <see cref="NKvHeads"/> &lt; <see cref="NHeads"/>),
/// whatever file it came from. Factories for GGUF metadata, HF config.json and Meta params.json live beside it.
/// </summary>
public sealed partial record LlamaConfig(
    int Dim,
    int NLayers,
    int NHeads,
    int NKvHeads,
    int FfnDim,
    int VocabSize,
    double RopeTheta = 10000.0,
    RopeScaling? RopeScaling = null,
    double NormEps = 1e-5,
    int ContextLength = 2048,
    bool TiedEmbeddings = false)
{
    public int HeadDim => Dim / NHeads;
    public int KvDim => NKvHeads * HeadDim;

    /// <summary>Throws a <see cref="BadInputException"/> naming <paramref name="source"/> and the field when the shape is impossible.</summary>
    public LlamaConfig Validate(string source)
    {
        void Require(bool ok, string field, string expected)
        {
            if (!ok) throw new BadInputException($"{source}: {field} is invalid: expected {expected} ({this})");
        }
        Require(Dim > 0, nameof(Dim), "> 0");
        Require(NLayers > 0, nameof(NLayers), "> 0");
        Require(NHeads > 0 && Dim % NHeads == 0, nameof(NHeads), $"a positive divisor of Dim={Dim}");
        Require(HeadDim % 2 == 0, nameof(HeadDim), "even (rotary embeddings rotate pairs)");
        Require(NKvHeads > 0 && NHeads % NKvHeads == 0, nameof(NKvHeads), $"a positive divisor of NHeads={NHeads}");
        Require(FfnDim > 0, nameof(FfnDim), "> 0");
        Require(VocabSize > 0, nameof(VocabSize), "> 0");
        Require(RopeTheta > 0, nameof(RopeTheta), "> 0");
        Require(NormEps > 0, nameof(NormEps), "> 0");
        Require(ContextLength > 0, nameof(ContextLength), "> 0");
        return this;
    }
}
