#!/usr/bin/env python3
"""Golden data.pkl bytes for the C# torch.save stand-in, produced by CPython's own pickler without torch.

torch.save pickles a state dict at protocol 2 with a persistent_id hook that turns each storage into
('storage', torch.<T>Storage, key, location, numel), and each tensor reduces to
torch._utils._rebuild_tensor_v2(storage, offset, tuple(size), stride, requires_grad, OrderedDict()).
This script installs stand-in `torch` / `torch._utils` modules holding objects of those names, so CPython's
pickler emits exactly the opcodes and memo references torch.save would, for the fixture of
tests/LlamaAdapter.Tests/Formats/MetaFixture.cs. It prints the bytes as base64 (for MetaPickleGoldenTests.cs): a plain dict, then a state_dict()-style OrderedDict.
The real-torch cross-check is tools/make_meta_fixture.py.
"""
import base64
import collections
import pickle
import sys
import types

torch = types.ModuleType("torch")
torch_utils = types.ModuleType("torch._utils")
sys.modules["torch"] = torch
sys.modules["torch._utils"] = torch_utils
torch._utils = torch_utils


def _rebuild_tensor_v2(*args):
    raise AssertionError("never called")


_rebuild_tensor_v2.__module__ = "torch._utils"
torch_utils._rebuild_tensor_v2 = _rebuild_tensor_v2

for name in ("FloatStorage", "HalfStorage", "BFloat16Storage"):
    cls = type(name, (), {})
    cls.__module__ = "torch"
    setattr(torch, name, cls)


class Storage:
    def __init__(self, type_name, numel):
        self.type_name = type_name
        self.numel = numel


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __reduce_ex__(self, proto):
        return (torch_utils._rebuild_tensor_v2,
                (self.storage, self.offset, tuple(self.size), tuple(self.stride), False, collections.OrderedDict()))


class TorchLikePickler(pickle.Pickler):
    def __init__(self, f):
        super().__init__(f, protocol=2)
        self.id_map = {}

    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            key = self.id_map.setdefault(id(obj), str(len(self.id_map)))
            return ("storage", getattr(torch, obj.type_name), key, "cpu", obj.numel)
        return None


TENSORS = [  # MetaFixture.Tensors
    ("tok_embeddings.weight", [16, 8], "HalfStorage"),
    ("layers.0.attention.wq.weight", [8, 8], "HalfStorage"),
    ("layers.0.attention.wk.weight", [8, 8], "HalfStorage"),
    ("layers.0.attention.wv.weight", [8, 8], "HalfStorage"),
    ("layers.0.attention.wo.weight", [8, 8], "HalfStorage"),
    ("layers.0.feed_forward.w1.weight", [24, 8], "HalfStorage"),
    ("layers.0.feed_forward.w2.weight", [8, 24], "HalfStorage"),
    ("layers.0.feed_forward.w3.weight", [24, 8], "HalfStorage"),
    ("layers.0.attention_norm.weight", [8], "FloatStorage"),
    ("layers.0.ffn_norm.weight", [8], "FloatStorage"),
    ("norm.weight", [8], "FloatStorage"),
    ("output.weight", [16, 8], "BFloat16Storage"),
    ("rope.freqs", [2], "FloatStorage"),
]


def row_major_stride(shape):
    s, acc = [], 1
    for d in reversed(shape):
        s.insert(0, acc)
        acc *= d
    return s


def main():
    import io
    sd = {}
    for name, shape, st in TENSORS:
        n = 1
        for d in shape:
            n *= d
        sd[name] = Tensor(Storage(st, n), 0, shape, row_major_stride(shape))
    buf = io.BytesIO()
    TorchLikePickler(buf).dump(sd)
    print(base64.b64encode(buf.getvalue()).decode())
    # As module.state_dict() returns it: an OrderedDict carrying _metadata (pickled through BUILD).
    od = collections.OrderedDict(sd)
    od._metadata = collections.OrderedDict([("", {"version": 1})])
    buf = io.BytesIO()
    TorchLikePickler(buf).dump(od)
    print(base64.b64encode(buf.getvalue()).decode())


if __name__ == "__main__":
    main()
