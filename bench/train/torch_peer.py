#!/usr/bin/python3
"""PyTorch peer for bench/train: MNRL fine-tuning of the same BERT or MPNet
weights as sentence-transformers runs it -- Hugging Face's BertModel or
MPNetModel (eager attention,
dropout 0.1 on hidden states and attention probabilities, training mode),
mean pooling, Normalize, MultipleNegativesRankingLoss (cos_sim x 20,
cross-entropy), torch.optim.AdamW (lr 2e-5, weight decay 0.01, none on
biases and LayerNorm), clip_grad_norm_ 1.0 -- on batches of B (anchor,
positive) pairs of T tokens, torch.set_num_threads(THREADS).

Usage: torch_peer.py MODEL_DIR BATCH THREADS STEPS [TOKENS]
Prints: pairs_per_s peak_rss_mb (STEPS timed steps after one warm-up step).
"""
import json
import math
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        a = np.frombuffer(data[b:e], dtype=np.float32).reshape(t["shape"]).copy()
        out[name[5:] if name.startswith("bert.") else name] = a
    return out


class Bert(torch.nn.Module):
    def __init__(self, cfg, w):
        super().__init__()
        self.cfg = cfg
        self.p = torch.nn.ParameterDict({k.replace(".", "/"): torch.nn.Parameter(torch.from_numpy(v))
                                         for k, v in w.items() if not k.startswith("pooler.")})
        self.H, self.L = cfg["num_attention_heads"], cfg["num_hidden_layers"]
        self.eps = cfg.get("layer_norm_eps", 1e-12)
        self.pd = cfg.get("hidden_dropout_prob", 0.1)
        self.ad = cfg.get("attention_probs_dropout_prob", 0.1)

    def w(self, n):
        return self.p[n.replace(".", "/")]

    def lin(self, x, n):
        return F.linear(x, self.w(n + ".weight"), self.w(n + ".bias"))

    def ln(self, x, n):
        return F.layer_norm(x, (x.shape[-1],), self.w(n + ".weight"), self.w(n + ".bias"), self.eps)

    def forward(self, ids, mask):
        B, T = ids.shape
        C = self.w("embeddings.word_embeddings.weight").shape[1]
        hd = C // self.H
        x = (F.embedding(ids, self.w("embeddings.word_embeddings.weight"))
             + self.w("embeddings.position_embeddings.weight")[:T]
             + self.w("embeddings.token_type_embeddings.weight")[0])
        x = F.dropout(self.ln(x, "embeddings.LayerNorm"), self.pd, self.training)
        ext = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for l in range(self.L):
            p = "encoder.layer.%d." % l
            q = self.lin(x, p + "attention.self.query").view(B, T, self.H, hd).transpose(1, 2)
            k = self.lin(x, p + "attention.self.key").view(B, T, self.H, hd).transpose(1, 2)
            v = self.lin(x, p + "attention.self.value").view(B, T, self.H, hd).transpose(1, 2)
            a = torch.softmax(q @ k.transpose(-1, -2) / hd ** 0.5 + ext, dim=-1)
            a = F.dropout(a, self.ad, self.training)
            ctx = (a @ v).transpose(1, 2).reshape(B, T, C)
            h = F.dropout(self.lin(ctx, p + "attention.output.dense"), self.pd, self.training)
            x = self.ln(h + x, p + "attention.output.LayerNorm")
            i = F.gelu(self.lin(x, p + "intermediate.dense"))
            h = F.dropout(self.lin(i, p + "output.dense"), self.pd, self.training)
            x = self.ln(h + x, p + "output.LayerNorm")
        m = mask.unsqueeze(-1).to(x.dtype)
        e = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return F.normalize(e, p=2, dim=1)


def rp_bucket(rel, num_buckets=32, max_distance=128):
    """Hugging Face's MPNetEncoder.relative_position_bucket."""
    n = -rel
    num_buckets //= 2
    ret = (n < 0).to(torch.long) * num_buckets
    n = torch.abs(n)
    max_exact = num_buckets // 2
    large = max_exact + (torch.log(n.float() / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return ret + torch.where(n < max_exact, n, large)


class MPNet(Bert):
    """MPNetModel: RoBERTa positions, no token types, the shared relative position bias."""

    def forward(self, ids, mask):
        B, T = ids.shape
        C = self.w("embeddings.word_embeddings.weight").shape[1]
        hd = C // self.H
        nonpad = ids.ne(1).long()
        pos = torch.cumsum(nonpad, dim=1) * nonpad + 1
        x = (F.embedding(ids, self.w("embeddings.word_embeddings.weight"))
             + F.embedding(pos, self.w("embeddings.position_embeddings.weight")))
        x = F.dropout(self.ln(x, "embeddings.LayerNorm"), self.pd, self.training)
        ext = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        r = torch.arange(T)
        bias = F.embedding(rp_bucket(r[None, :] - r[:, None]), self.w("encoder.relative_attention_bias.weight"))
        ext = ext + bias.permute(2, 0, 1).unsqueeze(0)
        for l in range(self.L):
            p = "encoder.layer.%d." % l
            q = self.lin(x, p + "attention.attn.q").view(B, T, self.H, hd).transpose(1, 2)
            k = self.lin(x, p + "attention.attn.k").view(B, T, self.H, hd).transpose(1, 2)
            v = self.lin(x, p + "attention.attn.v").view(B, T, self.H, hd).transpose(1, 2)
            a = torch.softmax(q @ k.transpose(-1, -2) / hd ** 0.5 + ext, dim=-1)
            a = F.dropout(a, self.ad, self.training)
            ctx = (a @ v).transpose(1, 2).reshape(B, T, C)
            h = F.dropout(self.lin(ctx, p + "attention.attn.o"), self.pd, self.training)
            x = self.ln(h + x, p + "attention.LayerNorm")
            i = F.gelu(self.lin(x, p + "intermediate.dense"))
            h = F.dropout(self.lin(i, p + "output.dense"), self.pd, self.training)
            x = self.ln(h + x, p + "output.LayerNorm")
        m = mask.unsqueeze(-1).to(x.dtype)
        e = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return F.normalize(e, p=2, dim=1)


def main():
    model_dir, B, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    T = int(sys.argv[5]) if len(sys.argv) > 5 else 32
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    mpnet = cfg.get("model_type") == "mpnet"
    model = (MPNet if mpnet else Bert)(cfg, load_safetensors(os.path.join(model_dir, "model.safetensors")))
    model.train()
    named = [(k.replace("/", "."), p) for k, p in model.p.items()]
    opt = torch.optim.AdamW(
        [{"params": [p for n, p in named if not (n.endswith("bias") or "LayerNorm" in n)],
          "weight_decay": 0.01},
         {"params": [p for n, p in named if n.endswith("bias") or "LayerNorm" in n],
          "weight_decay": 0.0}], lr=2e-5)
    rng = np.random.default_rng(1)
    V = cfg["vocab_size"]

    def batch():
        ids = rng.integers(1000, V, size=(B, T))
        ids[:, 0], ids[:, -1] = (0, 2) if mpnet else (101, 102)
        return torch.from_numpy(ids), torch.ones(B, T, dtype=torch.long)

    def step():
        (a, am), (p, pm) = batch(), batch()
        ea, ep = model(a, am), model(p, pm)
        loss = F.cross_entropy(ea @ ep.T * 20.0, torch.arange(B))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("%.3f %.1f" % (B * steps / dt, rss))


if __name__ == "__main__":
    main()
