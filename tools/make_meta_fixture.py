#!/usr/bin/env python3
"""Write, with real torch.save, the tiny Meta-style checkpoint the C# tests build with their own writer
(tests/LlamaAdapter.Tests/Formats/MetaFixture.cs + MetaTorchSaveWriter.cs), so a session that has torch can check
that our stand-in emits the same data.pkl bytes and that our reader reads torch's real output.

    python3 tools/make_meta_fixture.py OUT_DIR
    LLAMA_ADAPTER_META_FIXTURE=OUT_DIR dotnet test tests/LlamaAdapter.Tests -c Release --filter "FullyQualifiedName~MetaTorchCrossCheck"

Layout: OUT_DIR/consolidated.00.pth, OUT_DIR/params.json, OUT_DIR/data.pkl (the pickle torch wrote, extracted),
OUT_DIR/data.pkl.txt (pickletools disassembly, for reading a mismatch).
"""
import io
import json
import os
import pickletools
import sys
import zipfile

import torch

PARAMS = {"dim": 8, "multiple_of": 4, "n_heads": 2, "n_layers": 1, "norm_eps": 1e-05, "vocab_size": -1}

# Same order, shapes and dtypes as MetaFixture.Tensors.
TENSORS = [
    ("tok_embeddings.weight", [16, 8], torch.float16),
    ("layers.0.attention.wq.weight", [8, 8], torch.float16),
    ("layers.0.attention.wk.weight", [8, 8], torch.float16),
    ("layers.0.attention.wv.weight", [8, 8], torch.float16),
    ("layers.0.attention.wo.weight", [8, 8], torch.float16),
    ("layers.0.feed_forward.w1.weight", [24, 8], torch.float16),
    ("layers.0.feed_forward.w2.weight", [8, 24], torch.float16),
    ("layers.0.feed_forward.w3.weight", [24, 8], torch.float16),
    ("layers.0.attention_norm.weight", [8], torch.float32),
    ("layers.0.ffn_norm.weight", [8], torch.float32),
    ("norm.weight", [8], torch.float32),
    ("output.weight", [16, 8], torch.bfloat16),
    ("rope.freqs", [2], torch.float32),
]


def value(t: int, i: int) -> float:
    # v(t, i) = ((7i + 3t) mod 23 - 11) / 8: exact in fp16, bf16 and fp32.
    return ((7 * i + 3 * t) % 23 - 11) / 8.0


def main(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    sd = {}
    for t, (name, shape, dtype) in enumerate(TENSORS):
        n = 1
        for d in shape:
            n *= d
        sd[name] = torch.tensor([value(t, i) for i in range(n)], dtype=torch.float64).to(dtype).reshape(shape)
    path = os.path.join(out_dir, "consolidated.00.pth")
    torch.save(sd, path)  # default: zip format, pickle protocol 2
    with open(os.path.join(out_dir, "params.json"), "w") as f:
        json.dump(PARAMS, f)
    with zipfile.ZipFile(path) as z:
        pkl_name = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        pkl = z.read(pkl_name)
    with open(os.path.join(out_dir, "data.pkl"), "wb") as f:
        f.write(pkl)
    with open(os.path.join(out_dir, "data.pkl.txt"), "w") as f:
        pickletools.dis(io.BytesIO(pkl), out=f)
    print(f"wrote {path} (torch {torch.__version__}), params.json, data.pkl ({len(pkl)} bytes)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
