using System.Runtime.InteropServices;
using LlamaAdapter.Core;
using LlamaAdapter.Core.Config;
using LlamaAdapter.Core.Formats;
using LlamaAdapter.Core.Formats.Gguf;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Core.Tokenizers;

namespace LlamaAdapter.Convert;

/// <summary>
/// Base model → GGUF v3 as llama.cpp's convert_hf_to_gguf / llama-quantize lay it out: general.* and llama.*
/// metadata, general.file_type, tokenizer.ggml.*, GGUF tensor names in Meta row layout, per-tensor types from
/// <see cref="TensorTypePolicy"/>. The output appears only complete: a failure or cancellation leaves no file.
/// </summary>
public static class ModelConverter
{
    /// <summary>GGML_QUANT_VERSION, which llama.cpp's writers store as general.quantization_version.</summary>
    public const uint QuantizationVersion = 2;

    /// <summary>An HF directory (config.json), a Meta directory (params.json) or a .gguf file.</summary>
    public static ICheckpointSource OpenSource(string path)
    {
        if (File.Exists(path)) return GgufCheckpointSource.Open(path);
        if (!Directory.Exists(path)) throw new BadInputException($"{path}: no such file or directory; expected an HF or Meta LLaMA directory or a .gguf file");
        if (HfCheckpointSource.Recognizes(path)) return HfCheckpointSource.Open(path);
        if (MetaCheckpointSource.Recognizes(path)) return MetaCheckpointSource.Open(path);
        throw new BadInputException($"{path}: holds neither config.json (transformers) nor params.json (Meta); expected a LLaMA checkpoint directory");
    }

    public static void Convert(string input, string output, ConvertOptions options, CancellationToken ct = default)
    {
        using var source = OpenSource(input);
        Convert(source, output, options, ct);
    }

    public static void Convert(ICheckpointSource source, string output, ConvertOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(options);
        var config = source.Config;
        bool hasOutput = source.Tensors.Any(t => t.Id.Kind == LlamaTensor.Output);
        var md = Metadata(source, options);

        // rope_freqs.weight for Llama-3 scaling comes from the config when the checkpoint does not store it.
        float[]? ropeFactors = config.RopeScaling is { Type: RopeScalingType.Llama3 } && source.Tensors.All(t => t.Id.Kind != LlamaTensor.RopeFactors)
            ? config.Llama3RopeFactors() : null;

        var plan = new List<(GgufTensorSpec Spec, SourceTensor? Source)>();
        foreach (var t in source.Tensors)
        {
            var type = TensorTypePolicy.Choose(options.Type, t.Id, t.Ne, config, hasOutput);
            plan.Add((new GgufTensorSpec(TensorNames.Format(t.Id, TensorNaming.Gguf), type, t.Ne), t));
            if (t.Id.Kind == LlamaTensor.TokenEmbedding && ropeFactors is not null)
                plan.Add((new GgufTensorSpec(TensorNames.Format(new(LlamaTensor.RopeFactors), TensorNaming.Gguf), GgmlType.F32, [ropeFactors.Length]), null));
        }

        try
        {
            using var writer = GgufWriter.Create(output, md, plan.Select(p => p.Spec));
            foreach (var (spec, t) in plan)
            {
                ct.ThrowIfCancellationRequested();
                options.Log?.Invoke($"{spec.Name} {spec.Type} [{string.Join(", ", spec.Shape)}]");
                if (t is null) writer.WriteTensor(spec.Name, MemoryMarshal.AsBytes(ropeFactors.AsSpan()));
                else
                {
                    writer.WriteTensor(spec.Name, s => TensorConversion.Write(source.Bytes(t), t, spec.Type, s, options, ct));
                    source.Release(t);
                }
            }
            ct.ThrowIfCancellationRequested();
            writer.Commit();
        }
        catch (IOException e)
        {
            throw new BadInputException($"{output}: writing the GGUF failed ({e.Message}); no output was written and the temporary file was removed", e);
        }
    }

    private static GgufMetadata Metadata(ICheckpointSource source, ConvertOptions o)
    {
        var md = new GgufMetadata();
        if (source.SourceMetadata is { } old)
        {
            foreach (var (k, v) in old) md.Set(k, v);
            if (o.Name is not null) md.Set("general.name", GgufValue.Of(o.Name));
            md.Set("general.file_type", GgufValue.Of((uint)o.Type.FileType));
            md.Set("general.quantization_version", GgufValue.Of(QuantizationVersion));
            return md;
        }
        md.Set("general.architecture", GgufValue.Of("llama"));
        md.Set("general.name", GgufValue.Of(o.Name ?? new DirectoryInfo(source.Path).Name));
        source.Config.ToGguf(md);
        md.Set("general.file_type", GgufValue.Of((uint)o.Type.FileType));
        md.Set("general.quantization_version", GgufValue.Of(QuantizationVersion));
        foreach (var (k, v) in TokenizerMetadata(source, o)) md.Set(k, v);
        return md;
    }

    /// <summary>
    /// tokenizer.ggml.* from the SentencePiece model. A vocabulary smaller than the model's is padded as
    /// convert_hf_to_gguf pads it ("[PAD{i}]", score -1000, UNUSED); a larger one does not fit the embeddings.
    /// </summary>
    private static GgufMetadata TokenizerMetadata(ICheckpointSource source, ConvertOptions o)
    {
        var spm = o.Tokenizer;
        if (spm is null)
        {
            string path = o.TokenizerPath ?? Path.Combine(source.Path, "tokenizer.model");
            if (!File.Exists(path))
                throw new BadInputException(o.TokenizerPath is null
                    ? $"{source.Path}: tokenizer.model is missing beside the checkpoint; pass the SentencePiece model with --tokenizer"
                    : $"{path}: tokenizer file not found; expected a SentencePiece tokenizer.model");
            spm = SentencePieceModel.Load(path);
        }
        int vocab = source.Config.VocabSize;
        if (spm.VocabSize > vocab)
            throw new BadInputException($"{spm.Source}: the tokenizer has {spm.VocabSize} pieces but the model's vocab_size is {vocab}; expected at most {vocab}");
        var md = GgufTokenizerMetadata.FromSentencePiece(spm);
        if (spm.VocabSize < vocab)
        {
            var tokens = md[GgufTokenizerKeys.Tokens].AsArray<string>().ToList();
            var scores = md[GgufTokenizerKeys.Scores].AsArray<float>().ToList();
            var types = md[GgufTokenizerKeys.TokenType].AsArray<int>().ToList();
            for (int i = 1; tokens.Count < vocab; i++)
            {
                tokens.Add($"[PAD{i}]");
                scores.Add(-1000f);
                types.Add((int)LlamaTokenType.Unused);
            }
            md.Set(GgufTokenizerKeys.Tokens, GgufValue.Array(tokens.ToArray()));
            md.Set(GgufTokenizerKeys.Scores, GgufValue.Array(scores.ToArray()));
            md.Set(GgufTokenizerKeys.TokenType, GgufValue.Array(types.ToArray()));
        }
        return md;
    }
}
