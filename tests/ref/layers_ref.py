#!/usr/bin/python3
"""layers_ref.py -- expected outputs of each layer of lib/layers.c, from PyTorch.

Small deterministic inputs (numpy, seed 1), each layer computed with torch in
float64 the way Hugging Face's BertModel and sentence-transformers compute it
(nn.functional.linear, layer_norm, gelu (erf), softmax attention,
Pooling, normalize). Writes tests/golden/layers/layers.safetensors, read by
tests/unit/test_layers.c.

  /usr/bin/python3 tests/ref/layers_ref.py tests/golden/layers/layers.safetensors
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F

from bert_ref import pool, st_save


def main(out_path):
    rng = np.random.default_rng(1)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)
    T = lambda a: torch.tensor(a, dtype=torch.float64)
    out = {}
    # linear: (N=5, C=7) -> OC=3
    x, w, b = f(5, 7), f(3, 7), f(3)
    out.update({"linear.x": x, "linear.w": w, "linear.b": b,
                "linear.out": F.linear(T(x), T(w), T(b)).numpy()})
    # layernorm (eps 1e-12) and the residual form LayerNorm(a + b)
    x, x2 = f(4, 16) * 3 + 1, f(4, 16)
    w, b = 1 + 0.1 * f(16), 0.1 * f(16)
    out.update({"ln.x": x, "ln.x2": x2, "ln.w": w, "ln.b": b,
                "ln.out": F.layer_norm(T(x), (16,), T(w), T(b), 1e-12).numpy(),
                "ln.res_out": F.layer_norm(T(x) + T(x2), (16,), T(w), T(b), 1e-12).numpy()})
    # gelu (erf) on a grid, including the tails
    x = np.linspace(-9, 9, 73).astype(np.float32)
    out.update({"gelu.x": x, "gelu.out": F.gelu(T(x)).numpy()})
    # attention: one sequence of 5 tokens, C = 8, H = 2 (head size 4); qkv side by side
    Tn, C, H = 5, 8, 2
    qkv = f(Tn, 3 * C)
    q, k, v = (T(qkv[:, i * C:(i + 1) * C]).view(Tn, H, C // H).transpose(0, 1) for i in range(3))
    p = torch.softmax(q @ k.transpose(-1, -2) / (C // H) ** 0.5, dim=-1)
    out.update({"att.qkv": qkv, "att.out": (p @ v).transpose(0, 1).reshape(Tn, C).numpy(),
                "att.probs": p.numpy()})
    # pooling over 3 sequences of 1, 3 and 5 tokens, C = 6 (padded for sentence-transformers)
    lens = [1, 3, 5]
    x = f(sum(lens), 6)
    offs = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    pad = torch.zeros(3, 5, 6, dtype=torch.float64)
    mask = torch.zeros(3, 5, dtype=torch.long)
    for s in range(3):
        pad[s, :lens[s]] = T(x[offs[s]:offs[s + 1]])
        mask[s, :lens[s]] = 1
    out.update({"pool.x": x, "pool.offsets": offs})
    for m in ("mean", "cls", "max", "mean_sqrt_len"):
        out["pool." + m] = pool(pad, mask, m).numpy()
    # normalize
    x = f(3, 6)
    x[2] *= 1e-3
    out.update({"norm.x": x, "norm.out": F.normalize(T(x), p=2, dim=1).numpy()})
    # embeddings: V = 10, P = 6, 2 types, C = 4; sequences of 2 and 4 tokens
    wte, wpe, wtt = f(10, 4), f(6, 4), f(2, 4)
    ids = np.array([3, 9, 0, 2, 2, 7], np.int32)
    types = np.array([0, 0, 0, 0, 1, 1], np.int32)
    offs = np.array([0, 2, 6], np.int64)
    pos = np.array([0, 1, 0, 1, 2, 3])
    out.update({"emb.wte": wte, "emb.wpe": wpe, "emb.wtt": wtt, "emb.ids": ids,
                "emb.type_ids": types, "emb.offsets": offs,
                "emb.out": wte[ids].astype(np.float64) + wpe[pos] + wtt[types]})
    for k in list(out):
        if out[k].dtype == np.float64:
            out[k] = out[k].astype(np.float32)
    st_save(out_path, out, {"made_by": "tests/ref/layers_ref.py"})


if __name__ == "__main__":
    main(sys.argv[1])
