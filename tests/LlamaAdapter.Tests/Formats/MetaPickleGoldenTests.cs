using LlamaAdapter.Core.Formats.Meta;

namespace LlamaAdapter.Tests.Formats;

/// <summary>
/// Our torch.save stand-in against CPython's own pickler: tools/make_pickle_golden.py drives pickle.Pickler
/// (protocol 2) with torch's persistent_id and tensor reduction over stand-in torch modules, for the fixture's
/// state dict. Equal bytes mean the stand-in follows Python's opcode choice and memo sharing exactly.
/// </summary>
public sealed class MetaPickleGoldenTests
{
    private const string CPythonDataPkl =
        "gAJ9cQAoWBUAAAB0b2tfZW1iZWRkaW5ncy53ZWlnaHRxAWN0b3JjaC5fdXRpbHMKX3JlYnVpbGRfdGVuc29yX3YyCnECKChYBwAAAHN0b3JhZ2VxA2N0b3JjaApIYWxmU3RvcmFnZQpxBFgBAAAAMHEFWAMAAABjcHVxBkuAdHEHUUsASxBLCIZxCEsISwGGcQmJY2NvbGxlY3Rpb25zCk9yZGVyZWREaWN0CnEKKVJxC3RxDFJxDVgcAAAAbGF5ZXJzLjAuYXR0ZW50aW9uLndxLndlaWdodHEOaAIoKGgDaARYAQAAADFxD2gGS0B0cRBRSwBLCEsIhnERSwhLAYZxEoloCilScRN0cRRScRVYHAAAAGxheWVycy4wLmF0dGVudGlvbi53ay53ZWlnaHRxFmgCKChoA2gEWAEAAAAycRdoBktAdHEYUUsASwhLCIZxGUsISwGGcRqJaAopUnEbdHEcUnEdWBwAAABsYXllcnMuMC5hdHRlbnRpb24ud3Yud2VpZ2h0cR5oAigoaANoBFgBAAAAM3EfaAZLQHRxIFFLAEsISwiGcSFLCEsBhnEiiWgKKVJxI3RxJFJxJVgcAAAAbGF5ZXJzLjAuYXR0ZW50aW9uLndvLndlaWdodHEmaAIoKGgDaARYAQAAADRxJ2gGS0B0cShRSwBLCEsIhnEpSwhLAYZxKoloCilScSt0cSxScS1YHwAAAGxheWVycy4wLmZlZWRfZm9yd2FyZC53MS53ZWlnaHRxLmgCKChoA2gEWAEAAAA1cS9oBkvAdHEwUUsASxhLCIZxMUsISwGGcTKJaAopUnEzdHE0UnE1WB8AAABsYXllcnMuMC5mZWVkX2ZvcndhcmQudzIud2VpZ2h0cTZoAigoaANoBFgBAAAANnE3aAZLwHRxOFFLAEsISxiGcTlLGEsBhnE6iWgKKVJxO3RxPFJxPVgfAAAAbGF5ZXJzLjAuZmVlZF9mb3J3YXJkLnczLndlaWdodHE+aAIoKGgDaARYAQAAADdxP2gGS8B0cUBRSwBLGEsIhnFBSwhLAYZxQoloCilScUN0cURScUVYHgAAAGxheWVycy4wLmF0dGVudGlvbl9ub3JtLndlaWdodHFGaAIoKGgDY3RvcmNoCkZsb2F0U3RvcmFnZQpxR1gBAAAAOHFIaAZLCHRxSVFLAEsIhXFKSwGFcUuJaAopUnFMdHFNUnFOWBgAAABsYXllcnMuMC5mZm5fbm9ybS53ZWlnaHRxT2gCKChoA2hHWAEAAAA5cVBoBksIdHFRUUsASwiFcVJLAYVxU4loCilScVR0cVVScVZYCwAAAG5vcm0ud2VpZ2h0cVdoAigoaANoR1gCAAAAMTBxWGgGSwh0cVlRSwBLCIVxWksBhXFbiWgKKVJxXHRxXVJxXlgNAAAAb3V0cHV0LndlaWdodHFfaAIoKGgDY3RvcmNoCkJGbG9hdDE2U3RvcmFnZQpxYFgCAAAAMTFxYWgGS4B0cWJRSwBLEEsIhnFjSwhLAYZxZIloCilScWV0cWZScWdYCgAAAHJvcGUuZnJlcXNxaGgCKChoA2hHWAIAAAAxMnFpaAZLAnRxalFLAEsChXFrSwGFcWyJaAopUnFtdHFuUnFvdS4=";

    private const string CPythonStateDictPkl =
        "gAJjY29sbGVjdGlvbnMKT3JkZXJlZERpY3QKcQApUnEBKFgVAAAAdG9rX2VtYmVkZGluZ3Mud2VpZ2h0cQJjdG9yY2guX3V0aWxzCl9yZWJ1aWxkX3RlbnNvcl92MgpxAygoWAcAAABzdG9yYWdlcQRjdG9yY2gKSGFsZlN0b3JhZ2UKcQVYAQAAADBxBlgDAAAAY3B1cQdLgHRxCFFLAEsQSwiGcQlLCEsBhnEKiWgAKVJxC3RxDFJxDVgcAAAAbGF5ZXJzLjAuYXR0ZW50aW9uLndxLndlaWdodHEOaAMoKGgEaAVYAQAAADFxD2gHS0B0cRBRSwBLCEsIhnERSwhLAYZxEoloAClScRN0cRRScRVYHAAAAGxheWVycy4wLmF0dGVudGlvbi53ay53ZWlnaHRxFmgDKChoBGgFWAEAAAAycRdoB0tAdHEYUUsASwhLCIZxGUsISwGGcRqJaAApUnEbdHEcUnEdWBwAAABsYXllcnMuMC5hdHRlbnRpb24ud3Yud2VpZ2h0cR5oAygoaARoBVgBAAAAM3EfaAdLQHRxIFFLAEsISwiGcSFLCEsBhnEiiWgAKVJxI3RxJFJxJVgcAAAAbGF5ZXJzLjAuYXR0ZW50aW9uLndvLndlaWdodHEmaAMoKGgEaAVYAQAAADRxJ2gHS0B0cShRSwBLCEsIhnEpSwhLAYZxKoloAClScSt0cSxScS1YHwAAAGxheWVycy4wLmZlZWRfZm9yd2FyZC53MS53ZWlnaHRxLmgDKChoBGgFWAEAAAA1cS9oB0vAdHEwUUsASxhLCIZxMUsISwGGcTKJaAApUnEzdHE0UnE1WB8AAABsYXllcnMuMC5mZWVkX2ZvcndhcmQudzIud2VpZ2h0cTZoAygoaARoBVgBAAAANnE3aAdLwHRxOFFLAEsISxiGcTlLGEsBhnE6iWgAKVJxO3RxPFJxPVgfAAAAbGF5ZXJzLjAuZmVlZF9mb3J3YXJkLnczLndlaWdodHE+aAMoKGgEaAVYAQAAADdxP2gHS8B0cUBRSwBLGEsIhnFBSwhLAYZxQoloAClScUN0cURScUVYHgAAAGxheWVycy4wLmF0dGVudGlvbl9ub3JtLndlaWdodHFGaAMoKGgEY3RvcmNoCkZsb2F0U3RvcmFnZQpxR1gBAAAAOHFIaAdLCHRxSVFLAEsIhXFKSwGFcUuJaAApUnFMdHFNUnFOWBgAAABsYXllcnMuMC5mZm5fbm9ybS53ZWlnaHRxT2gDKChoBGhHWAEAAAA5cVBoB0sIdHFRUUsASwiFcVJLAYVxU4loAClScVR0cVVScVZYCwAAAG5vcm0ud2VpZ2h0cVdoAygoaARoR1gCAAAAMTBxWGgHSwh0cVlRSwBLCIVxWksBhXFbiWgAKVJxXHRxXVJxXlgNAAAAb3V0cHV0LndlaWdodHFfaAMoKGgEY3RvcmNoCkJGbG9hdDE2U3RvcmFnZQpxYFgCAAAAMTFxYWgHS4B0cWJRSwBLEEsIhnFjSwhLAYZxZIloAClScWV0cWZScWdYCgAAAHJvcGUuZnJlcXNxaGgDKChoBGhHWAIAAAAxMnFpaAdLAnRxalFLAEsChXFrSwGFcWyJaAApUnFtdHFuUnFvdX1xcFgJAAAAX21ldGFkYXRhcXFoAClScXJYAAAAAHFzfXF0WAcAAAB2ZXJzaW9ucXVLAXNzc2Iu";

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void StandInPickleEqualsCPythonBytes(bool ordered)
    {
        byte[] golden = System.Convert.FromBase64String(ordered ? CPythonStateDictPkl : CPythonDataPkl);
        using var z = new System.IO.Compression.ZipArchive(new MemoryStream(MetaFixture.Checkpoint(ordered)));
        using var ms = new MemoryStream();
        z.GetEntry("consolidated/data.pkl")!.Open().CopyTo(ms);
        Assert.Equal(golden, ms.ToArray());
    }

    [Fact]
    public void ReaderReadsCPythonBytes()
    {
        // The golden pickle, zipped with the fixture's storages, reads back as the fixture.
        string dir = Directory.CreateTempSubdirectory("golden-").FullName;
        try
        {
            var expected = MetaFixture.Expected();
            var storages = MetaFixture.Tensors.Select((t, i) => new MetaTorchSaveWriter.Storage(MetaFixture.StorageType(t.DType),
                i.ToString(System.Globalization.CultureInfo.InvariantCulture), expected[t.Name].Length / Core.Formats.Safetensors.SafetensorsDTypes.ElementSize(t.DType), expected[t.Name]));
            string p = Path.Combine(dir, "g.pth");
            File.WriteAllBytes(p, MetaTorchSaveWriter.Zip("g", System.Convert.FromBase64String(CPythonDataPkl), storages));
            using var c = TorchCheckpoint.Open(p);
            foreach (var t in MetaFixture.Tensors) Assert.Equal(expected[t.Name], c.GetBytes(t.Name).ToArray());
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
