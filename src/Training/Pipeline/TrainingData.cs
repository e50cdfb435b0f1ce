using System.Security.Cryptography;
using System.Text;
using LlamaAdapter.Core.Data;

namespace LlamaAdapter.Training.Pipeline;

/// <summary>
/// The examples a run trains and validates on: the split (indices into the records) and how to encode record i.
/// Encoding happens per batch, so a 52K-record set is not held tokenized in memory.
/// </summary>
public sealed class TrainingData
{
    private readonly Func<int, EncodedExample> _encode;

    public DataSplit Split { get; }
    public int SeqLen { get; }
    /// <summary>Identifies the records and the encoding; a resume on other data is refused.</summary>
    public string Fingerprint { get; }

    public TrainingData(DataSplit split, int seqLen, string fingerprint, Func<int, EncodedExample> encode)
    {
        Split = split;
        SeqLen = seqLen;
        Fingerprint = fingerprint;
        _encode = encode;
    }

    public EncodedExample Encode(int record)
    {
        var e = _encode(record);
        if (e.Tokens.Length != SeqLen || e.Labels.Length != SeqLen)
            throw new InvalidOperationException($"record {record} encoded to {e.Tokens.Length} tokens; expected {SeqLen}");
        return e;
    }

    public static TrainingData FromAlpaca(IReadOnlyList<AlpacaExample> records, AlpacaEncoder encoder, DataSplit split)
    {
        if (split.Train.Concat(split.Validation).Any(i => i < 0 || i >= records.Count))
            throw new ArgumentException($"split names records outside 0..{records.Count - 1}");
        return new TrainingData(split, encoder.MaxSeqLen, FingerprintOf(records, encoder.MaxSeqLen), i => encoder.Encode(records[i]));
    }

    /// <summary>SHA-256 over every record's three fields (length-prefixed) and the sequence length.</summary>
    public static string FingerprintOf(IReadOnlyList<AlpacaExample> records, int seqLen)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var len = new byte[4];
        void Add(string s)
        {
            byte[] b = Encoding.UTF8.GetBytes(s);
            System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(len, b.Length);
            hash.AppendData(len);
            hash.AppendData(b);
        }
        Add($"alpaca;max_seq_len={seqLen};records={records.Count}");
        foreach (var r in records) { Add(r.Instruction); Add(r.Input); Add(r.Output); }
        return "sha256:" + Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
