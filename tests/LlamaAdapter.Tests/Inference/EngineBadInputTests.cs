using LlamaAdapter.Core;
using LlamaAdapter.Core.Native;
using LlamaAdapter.Inference.Adapters;
using LlamaAdapter.Inference.Model;
using LlamaAdapter.Tests.Model;
using LlamaAdapter.Training.Adapters;
using static TorchSharp.torch;

namespace LlamaAdapter.Tests.Inference;

/// <summary>Wrong files and requests are clear errors raised before ggml (which would abort the process) sees them.</summary>
public sealed class EngineBadInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("engine-bad-").FullName;
    private readonly TinyLlama _tiny = new(TinyLlama.DefaultConfig());

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Model(Func<string, long[], long[]>? shapes = null, Func<string, GgmlType, GgmlType>? types = null)
    {
        string path = Path.Combine(_dir, $"m-{Guid.NewGuid():N}.gguf");
        TinyGguf.WriteModel(_tiny, path, GgmlType.F32, shapes, types);
        return path;
    }

    [Fact]
    public void PromptLongerThanContext_IsBadInput_AndLeavesTheSessionUsable()
    {
        using var model = GgmlLlamaModel.Load(Model());
        using var session = new LlamaSession(model, contextSize: 16);
        var e = Assert.Throws<BadInputException>(() => session.Evaluate(new int[17]));
        Assert.Contains("context holds 16", e.Message);
        Assert.Equal(0, session.Position);
        session.Evaluate(new int[10]);
        Assert.Throws<BadInputException>(() => session.Evaluate(new int[7]));
        Assert.Equal(10, session.Position);
        Assert.Equal(97, session.Evaluate(new int[6]).Length);
    }

    [Fact]
    public void ContextLargerThanTheModels_IsRefused()
    {
        using var model = GgmlLlamaModel.Load(Model());
        Assert.Throws<ArgumentOutOfRangeException>(() => new LlamaSession(model, contextSize: _tiny.Config.ContextLength + 1));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(97)]
    public void TokenOutsideTheVocabulary_IsBadInput(int id)
    {
        using var model = GgmlLlamaModel.Load(Model());
        using var session = new LlamaSession(model);
        var e = Assert.Throws<BadInputException>(() => session.Evaluate([1, id, 2]));
        Assert.Contains("token 1", e.Message);
        Assert.Contains("0..96", e.Message);
    }

    [Fact]
    public void WrongTensorShape_NamesTheTensorAndBothShapes()
    {
        // Same element count, dimensions swapped: only the shape check can catch it.
        string path = Model((name, ne) => name == "blk.1.attn_k.weight" ? [ne[1], ne[0]] : ne);
        var e = Assert.Throws<BadInputException>(() => GgmlLlamaModel.Load(path));
        Assert.Contains("blk.1.attn_k.weight", e.Message);
        Assert.Contains("[32, 64]", e.Message);
        Assert.Contains("expected [64, 32]", e.Message);
    }

    [Fact]
    public void QuantizedNormVector_IsBadInput()
    {
        // llama.cpp keeps 1-D tensors in F32, and so does our graph (ggml_mul with an F32 activation).
        string bad = Model(types: (name, t) => name == "output_norm.weight" ? GgmlType.F16 : t);
        var e = Assert.Throws<BadInputException>(() => GgmlLlamaModel.Load(bad));
        Assert.Contains("output_norm.weight", e.Message);
        Assert.Contains("F32", e.Message);
    }

    [Fact]
    public void AdapterForAnotherModel_IsBadInput()
    {
        var other = new TinyLlama(TinyLlama.DefaultConfig(nKvHeads: 4));
        using var otherModel = other.Build();
        var adapter = otherModel.AttachNewAdapter(new AdapterConfig(AdapterKind.Linear, PromptLength: 3, Layers: 1), new Generator(1));
        string adapterPath = Path.Combine(_dir, "other-adapter.gguf");
        TinyGguf.WriteAdapter(other, adapter, adapterPath);
        using var model = GgmlLlamaModel.Load(Model());
        var e = Assert.Throws<BadInputException>(() => GgmlPromptAdapter.Load(adapterPath, model));
        Assert.Contains("llama_adapter.base.head_count_kv", e.Message);
        Assert.Contains("expected 2", e.Message);
    }

    [Fact]
    public void ModelFileGivenAsAdapter_IsBadInput()
    {
        string path = Model();
        using var model = GgmlLlamaModel.Load(path);
        var e = Assert.Throws<BadInputException>(() => GgmlPromptAdapter.Load(path, model));
        Assert.Contains("general.type", e.Message);
    }
}
