#!/usr/bin/env python3
"""Goldens for the TorchSharp LLaMA and its prompt adapters (tests/LlamaAdapter.Tests/Model).

NOT RUN IN THIS SESSION: the build machine has no torch/transformers/peft. Run it in a GPU (or any Python ML)
session, then commit the small output folder (a few hundred KB) and point a C# test at it:

    pip install torch transformers peft safetensors
    python tools/golden_hf.py --out tests/LlamaAdapter.Tests/Model/Goldens

It writes, all float32, for one tiny random LLaMA (dim 64, 3 layers, 4 heads, 2 kv heads, ffn 96, vocab 97):

  base_hf.safetensors      HF-named weights (model.layers.N.self_attn.q_proj.weight, ...), HalfSplit rotary layout
  base_meta.safetensors    the same model under Meta names (tok_embeddings.weight, layers.N.attention.wq.weight, ...),
                           wq/wk rows un-permuted to the Interleaved layout (inverse of convert_llama_weights_to_hf permute)
  inputs.safetensors       input_ids [2, 9] int64
  logits_base.safetensors  HF LlamaForCausalLM logits [2, 9, 97]
  peft/adapter_config.json + peft/adapter_model.safetensors   PEFT AdaptionPrompt (adapter_len 4, adapter_layers 2),
                           gates set non-zero so the prompts matter; logits_peft.safetensors its logits
  ref_<kind>.safetensors   the reference gated adapter (re-implemented below from
                           duyhominhnguyen/llama-adaptor-nonlinear alpaca_finetuning_v1/llama/model.py, see
                           /work/shared/reference/seed-code.md §1-2) on the Meta weights: adapter tensors under OUR
                           names (adapter.prompts [K,L,dim], adapter.gates [K,H], adapter.hyper.*) plus "logits"
                           kinds: linear_tanh, linear_raw (example.py inference gate), nonlinear_tanh, prefix
  config.json              the LlamaConfig fields and adapter settings used
"""
import argparse
import json
import math
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

DIM, LAYERS, HEADS, KV_HEADS, FFN, VOCAB, THETA, EPS = 64, 3, 4, 2, 96, 97, 10000.0, 1e-5
HEAD_DIM = DIM // HEADS
L, K = 4, 2  # prompt length, adapter layers (the last K)


def hf_model():
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(hidden_size=DIM, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                      num_key_value_heads=KV_HEADS, intermediate_size=FFN, vocab_size=VOCAB, rope_theta=THETA,
                      rms_norm_eps=EPS, max_position_embeddings=64, tie_word_embeddings=False,
                      attention_bias=False, mlp_bias=False)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).float().eval()
    with torch.no_grad():  # HF init is N(0, 0.02): too small to exercise softmax; use O(1) activations instead
        for name, p in model.named_parameters():
            if p.ndim == 1:
                p.copy_(1 + 0.4 * (torch.rand_like(p) - 0.5))
            else:
                bound = 1.0 if "embed_tokens" in name else math.sqrt(3.0 / p.shape[1])
                p.uniform_(-bound, bound)
    return model


def unpermute(w, n_heads):
    """Inverse of HF's permute(w, n_heads, d1, d2) = w.view(n, d1/n/2, 2, d2).transpose(1, 2).reshape(d1, d2)."""
    d1, d2 = w.shape
    return w.view(n_heads, 2, d1 // n_heads // 2, d2).transpose(1, 2).reshape(d1, d2)


def to_meta(hf_sd):
    m = {"tok_embeddings.weight": hf_sd["model.embed_tokens.weight"], "norm.weight": hf_sd["model.norm.weight"],
         "output.weight": hf_sd["lm_head.weight"]}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        m[f"layers.{i}.attention.wq.weight"] = unpermute(hf_sd[p + "self_attn.q_proj.weight"], HEADS)
        m[f"layers.{i}.attention.wk.weight"] = unpermute(hf_sd[p + "self_attn.k_proj.weight"], KV_HEADS)
        m[f"layers.{i}.attention.wv.weight"] = hf_sd[p + "self_attn.v_proj.weight"]
        m[f"layers.{i}.attention.wo.weight"] = hf_sd[p + "self_attn.o_proj.weight"]
        m[f"layers.{i}.feed_forward.w1.weight"] = hf_sd[p + "mlp.gate_proj.weight"]
        m[f"layers.{i}.feed_forward.w2.weight"] = hf_sd[p + "mlp.down_proj.weight"]
        m[f"layers.{i}.feed_forward.w3.weight"] = hf_sd[p + "mlp.up_proj.weight"]
        m[f"layers.{i}.attention_norm.weight"] = hf_sd[p + "input_layernorm.weight"]
        m[f"layers.{i}.ffn_norm.weight"] = hf_sd[p + "post_attention_layernorm.weight"]
    return {k: v.contiguous().clone() for k, v in m.items()}


# ---- The reference model (NL training model), float32, GQA added as Meta's repeat_kv ----

def rms_norm(x, w):
    return (x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + EPS)).type_as(x) * w


def freqs_cis(seqlen):
    freqs = 1.0 / (THETA ** (torch.arange(0, HEAD_DIM, 2)[: HEAD_DIM // 2].float() / HEAD_DIM))
    return torch.polar(torch.ones(seqlen, HEAD_DIM // 2), torch.outer(torch.arange(seqlen).float(), freqs))


def rope(x, fc):  # x [B, T, H, d], Meta apply_rotary_emb
    xc = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(xc * fc.view(1, x.shape[1], 1, -1)).flatten(3).type_as(x)


def attention(m, i, x, fc, mask, prompt, gate, random_init):
    b, t, _ = x.shape
    p = f"layers.{i}.attention."
    rep = HEADS // KV_HEADS
    q = rope((x @ m[p + "wq.weight"].T).view(b, t, HEADS, HEAD_DIM), fc)
    k = rope((x @ m[p + "wk.weight"].T).view(b, t, KV_HEADS, HEAD_DIM), fc)
    v = (x @ m[p + "wv.weight"].T).view(b, t, KV_HEADS, HEAD_DIM)
    if prompt is not None:  # raw prompt through the frozen wk/wv, no rotary, prepended (NL :124-131)
        pk = (prompt @ m[p + "wk.weight"].T).view(1, L, KV_HEADS, HEAD_DIM).repeat(b, 1, 1, 1)
        pv = (prompt @ m[p + "wv.weight"].T).view(1, L, KV_HEADS, HEAD_DIM).repeat(b, 1, 1, 1)
        k, v = torch.cat([pk, k], 1), torch.cat([pv, v], 1)
        mask = torch.cat([torch.zeros(1, 1, t, L), mask], -1)
    k = k.repeat_interleave(rep, dim=2)
    v = v.repeat_interleave(rep, dim=2)
    q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    s = q @ k.transpose(2, 3) / math.sqrt(HEAD_DIM) + mask
    if prompt is not None and not random_init:  # two softmaxes, prompt one gated (NL :138-150)
        s = torch.cat([gate.view(1, -1, 1, 1) * F.softmax(s[..., :L].float(), -1).type_as(q),
                       F.softmax(s[..., L:].float(), -1).type_as(q)], -1)
    else:
        s = F.softmax(s.float(), -1).type_as(q)
    return (s @ v).transpose(1, 2).reshape(b, t, DIM) @ m[p + "wo.weight"].T


def reference_forward(m, ids, prompts=None, gates=None, random_init=False):
    b, t = ids.shape
    h = m["tok_embeddings.weight"][ids]
    fc = freqs_cis(t)
    mask = torch.triu(torch.full((1, 1, t, t), float("-inf")), diagonal=1)
    for i in range(LAYERS):
        k = i - (LAYERS - K)
        prompt = prompts[k] if prompts is not None and k >= 0 else None
        gate = gates[k] if gates is not None and k >= 0 else None
        x = rms_norm(h, m[f"layers.{i}.attention_norm.weight"])
        h = h + attention(m, i, x, fc, mask, prompt, gate, random_init)
        f = rms_norm(h, m[f"layers.{i}.ffn_norm.weight"])
        p = f"layers.{i}.feed_forward."
        h = h + (F.silu(f @ m[p + "w1.weight"].T) * (f @ m[p + "w3.weight"].T)) @ m[p + "w2.weight"].T
    return rms_norm(h, m["norm.weight"]) @ m["output.weight"].T


def hypernetwork(g):
    """NL ParameterGenerator(64, dim, L, n_layers, hidden 64, relu) with its init (model.py:199-271)."""
    embed = torch.randn(LAYERS, 64, generator=g)
    w1 = (torch.rand(64, 64, generator=g) * 2 - 1) * 0.125
    b1 = (torch.rand(64, generator=g) * 2 - 1) * 0.125
    w2 = (torch.rand(L * DIM, 64, generator=g) * 2 - 1) * 0.3  # init bound 1e-3*sqrt(3/(64*dim)) is ~1e-5; enlarged
    b2 = (torch.rand(L * DIM, generator=g) * 2 - 1) * 0.5      # so the golden exercises the prompts (bias init is 0)
    e = embed[torch.arange(LAYERS - K, LAYERS)]
    prompts = (F.relu(e @ w1.T + b1) @ w2.T + b2).view(K, L, DIM)
    names = {"adapter.hyper.layer_embed": embed, "adapter.hyper.linear1.weight": w1, "adapter.hyper.linear1.bias": b1,
             "adapter.hyper.prompt.weight": w2, "adapter.hyper.prompt.bias": b2}
    return prompts, names


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    out = ap.parse_args().out
    os.makedirs(os.path.join(out, "peft"), exist_ok=True)
    torch.set_grad_enabled(False)

    model = hf_model()
    hf_sd = {k: v.contiguous().clone() for k, v in model.state_dict().items()}
    meta = to_meta(hf_sd)
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(0, VOCAB, (2, 9), generator=g)
    ids[0, 0], ids[1, -1] = 0, VOCAB - 1
    save_file(hf_sd, os.path.join(out, "base_hf.safetensors"))
    save_file(meta, os.path.join(out, "base_meta.safetensors"))
    save_file({"input_ids": ids}, os.path.join(out, "inputs.safetensors"))
    base_logits = model(ids).logits.float()
    save_file({"logits": base_logits.contiguous()}, os.path.join(out, "logits_base.safetensors"))
    # Self-check: the reference re-implementation on Meta weights is the HF model.
    assert (reference_forward(meta, ids) - base_logits).abs().max() < 1e-4

    # PEFT AdaptionPrompt on the HF model.
    from peft import AdaptionPromptConfig, get_peft_model, get_peft_model_state_dict
    peft_model = get_peft_model(model, AdaptionPromptConfig(adapter_len=L, adapter_layers=K, task_type="CAUSAL_LM"))
    for name, p in peft_model.named_parameters():
        if name.endswith("adaption_gate"):
            p.copy_(torch.rand(1, generator=g) * 2 - 1)
    peft_model.save_pretrained(os.path.join(out, "peft"), safe_serialization=True)
    state = get_peft_model_state_dict(peft_model)
    print("PEFT tensor names:", sorted(state))
    save_file({"logits": peft_model(ids).logits.float().contiguous()}, os.path.join(out, "logits_peft.safetensors"))

    # The paper's reference adapter, four variants, on the Meta weights.
    linear_prompts = torch.randn(K, L, DIM, generator=g)
    gates = torch.rand(K, HEADS, generator=g) * 3 - 1.5
    hyper_prompts, hyper_names = hypernetwork(g)
    variants = {
        "linear_tanh": (linear_prompts, gates.tanh(), False, {"adapter.prompts": linear_prompts, "adapter.gates": gates}),
        "linear_raw": (linear_prompts, gates, False, {"adapter.prompts": linear_prompts, "adapter.gates": gates}),
        "nonlinear_tanh": (hyper_prompts, gates.tanh(), False, {**hyper_names, "adapter.gates": gates}),
        "prefix": (linear_prompts, None, True, {"adapter.prompts": linear_prompts}),
    }
    for name, (prompts, gate_values, random_init, tensors) in variants.items():
        logits = reference_forward(meta, ids, prompts, gate_values, random_init)
        save_file({**{k: v.contiguous() for k, v in tensors.items()}, "logits": logits.contiguous()},
                  os.path.join(out, f"ref_{name}.safetensors"))

    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump({"Dim": DIM, "NLayers": LAYERS, "NHeads": HEADS, "NKvHeads": KV_HEADS, "FfnDim": FFN,
                   "VocabSize": VOCAB, "RopeTheta": THETA, "NormEps": EPS, "PromptLength": L, "AdapterLayers": K,
                   "tolerance_note": "float32 everywhere; expect max |dlogit| <= 1e-4 (different kernels)"}, f, indent=1)


if __name__ == "__main__":
    main()
