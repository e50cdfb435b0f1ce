using LlamaAdapter.Core.Formats.Safetensors;

namespace LlamaAdapter.Core.Formats.Meta;

/// <summary>A whitelisted GLOBAL (module.name); the only callables a checkpoint may name.</summary>
internal sealed record PickleGlobal(string Module, string Name)
{
    public override string ToString() => $"{Module}.{Name}";
}

/// <summary>A dict or OrderedDict in insertion order. <see cref="State"/> holds what BUILD set (state_dict's _metadata).</summary>
internal sealed class PickleDict
{
    private readonly Dictionary<object, int> _index = [];
    public List<KeyValuePair<object, object?>> Items { get; } = [];
    public object? State { get; set; }

    public void Set(object key, object? value)
    {
        if (_index.TryGetValue(key, out int i)) Items[i] = new(key, value);
        else
        {
            _index[key] = Items.Count;
            Items.Add(new(key, value));
        }
    }
}

/// <summary>The persistent id torch.save writes for a storage: ('storage', torch.&lt;T&gt;Storage, key, location, numel).</summary>
internal sealed record TorchStorageRef(SafetensorsDType DType, string Key, string Location, long Numel);

/// <summary>torch._utils._rebuild_tensor_v2's arguments: a view (offset, size, stride, in elements) of a storage.</summary>
internal sealed record TorchTensorRef(TorchStorageRef Storage, long Offset, long[] Size, long[] Stride, bool RequiresGrad);
