#!/usr/bin/python3
"""mpnet_ref.py -- the reference for ctk's MPNet encoder (lib/mpnet.c).

A from-scratch MPNet in PyTorch that follows Hugging Face transformers'
MPNetModel (modeling_mpnet.py: MPNetEmbeddings with RoBERTa's
create_position_ids_from_input_ids, MPNetSelfAttention with the position
bias added to the scores, MPNetAttention, MPNetIntermediate, MPNetOutput,
MPNetEncoder.compute_position_bias and relative_position_bucket) line by
line, then sentence-transformers' Pooling and Normalize, in float64, on a
model folder read with tests/ref/bert_ref.py's safetensors reader. Batches
are padded with an attention mask, as Hugging Face runs them; ctk packs.

  mpnet_ref.py forward MODEL OUT.safetensors [--lengths 1,2,...] [--seed N]
      inputs, pooled embeddings for every pooling mode, normalised and not,
      a sample of token embeddings, and the bucket of every relative
      position -1100..1100 ("buckets", as torch computes them in float32)
  mpnet_ref.py embed MODEL IDS.jsonl OUT.tsv
      the sentence embedding (the folder's pooling and Normalize) of every
      line {"ids": [...]} of IDS.jsonl, one TSV line each (%.9g)
  mpnet_ref.py train MODEL DATA.jsonl OUT.tsv [train_ref.py's options]
  mpnet_ref.py train MODEL DATA.jsonl OUT.safetensors --grad [--rows K]
      tests/ref/train_ref.py's steps (AdamW, warm-up, clipping, the losses of
      loss_ref.py) on this MPNet. Weight decay as sentence-transformers and
      transformers' Trainer group it: none on any parameter whose name
      contains "bias" (so none on encoder.relative_attention_bias.weight)
      or "LayerNorm".

  mpnet_ref.py shrink GRADS.safetensors --elems E
      keep E sampled elements of every vector of a --grad file (grad.NAME.rows
      holds their indices): a small fixture for the mpnet-base shape

Run with Debian's python3 (torch, numpy): /usr/bin/python3 tests/ref/mpnet_ref.py ...
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_ref  # noqa: E402

PADDING_IDX = 1  # MPNetEmbeddings.padding_idx


def create_position_ids_from_input_ids(input_ids, padding_idx):
    """RoBERTa's: positions count non-padding tokens from padding_idx + 1."""
    mask = input_ids.ne(padding_idx).int()
    incremental_indices = torch.cumsum(mask, dim=1).type_as(mask) * mask
    return incremental_indices.long() + padding_idx


def relative_position_bucket(relative_position, num_buckets=32, max_distance=128):
    """MPNetEncoder.relative_position_bucket (T5's, bidirectional)."""
    ret = 0
    n = -relative_position
    num_buckets //= 2
    ret += (n < 0).to(torch.long) * num_buckets
    n = torch.abs(n)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    val_if_large = max_exact + (
        torch.log(n.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).to(torch.long)
    val_if_large = torch.min(val_if_large, torch.full_like(val_if_large, num_buckets - 1))
    ret += torch.where(is_small, n, val_if_large)
    return ret


class MPNet(torch.nn.Module):
    """MPNetModel without the pooler (sentence-transformers does not use it)."""

    def __init__(self, cfg, w):
        super().__init__()
        self.cfg = cfg
        self.p = torch.nn.ParameterDict()
        for k, v in w.items():
            if k.startswith("mpnet."):
                k = k[6:]
            if v.dtype.kind == "f" and not k.startswith("pooler."):
                self.p[k.replace(".", "/")] = torch.nn.Parameter(
                    torch.tensor(v.astype(np.float64)).to(bert_ref.DT))

    def w(self, name):
        return self.p[name.replace(".", "/")]

    def linear(self, x, name):
        return x @ self.w(name + ".weight").T + self.w(name + ".bias")

    def layernorm(self, x, name):
        return torch.nn.functional.layer_norm(x, (x.shape[-1],), self.w(name + ".weight"),
                                              self.w(name + ".bias"), self.cfg["layer_norm_eps"])

    def compute_position_bias(self, x, num_buckets=32):
        bsz, qlen, klen = x.size(0), x.size(1), x.size(1)
        context_position = torch.arange(qlen, dtype=torch.long)[:, None]
        memory_position = torch.arange(klen, dtype=torch.long)[None, :]
        relative_position = memory_position - context_position
        rp_bucket = relative_position_bucket(relative_position, num_buckets=num_buckets)
        values = self.w("encoder.relative_attention_bias.weight")[rp_bucket]  # (q, k, H)
        values = values.permute([2, 0, 1]).unsqueeze(0)
        return values.expand((bsz, -1, qlen, klen)).contiguous()

    def forward(self, ids, type_ids, mask):  # type_ids: unused (MPNet has no token types)
        cfg = self.cfg
        B, T = ids.shape
        C, H = cfg["hidden_size"], cfg["num_attention_heads"]
        hs = C // H
        # MPNetEmbeddings: word + position (RoBERTa's ids), LayerNorm, dropout (off)
        pos = create_position_ids_from_input_ids(ids, PADDING_IDX)
        x = self.w("embeddings.word_embeddings.weight")[ids] + self.w("embeddings.position_embeddings.weight")[pos]
        x = self.layernorm(x, "embeddings.LayerNorm")
        # MPNetModel: get_extended_attention_mask
        ext = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        # MPNetEncoder: one position bias for all layers
        position_bias = self.compute_position_bias(x)
        for l in range(cfg["num_hidden_layers"]):
            pre = "encoder.layer.%d." % l

            def heads(t):
                return t.view(B, -1, H, hs).transpose(1, 2)
            q = heads(self.linear(x, pre + "attention.attn.q"))
            k = heads(self.linear(x, pre + "attention.attn.k"))
            v = heads(self.linear(x, pre + "attention.attn.v"))
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hs)
            scores = scores + position_bias
            scores = scores + ext
            probs = torch.softmax(scores, dim=-1)
            c = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous().view(B, T, C)
            o = self.linear(c, pre + "attention.attn.o")
            # MPNetAttention: LayerNorm(dropout(o) + hidden_states)
            a = self.layernorm(o + x, pre + "attention.LayerNorm")
            # MPNetIntermediate (erf GELU), MPNetOutput
            i = torch.nn.functional.gelu(self.linear(a, pre + "intermediate.dense"))
            x = self.layernorm(self.linear(i, pre + "output.dense") + a, pre + "output.LayerNorm")
        return x


def make_batch(cfg, lengths, seed):
    """Random ids, each sequence <s> ... </s> (ids 0 and 2) when long enough; some <pad> (1) inside."""
    rng = np.random.default_rng(seed)
    V = cfg["vocab_size"]
    ids = []
    for n in lengths:
        a = rng.integers(3, V, size=n).astype(np.int32)
        if n >= 2:
            a[0], a[-1] = 0, 2
        if n >= 8:
            a[n // 3] = PADDING_IDX  # a <pad> inside: it takes position padding_idx
        ids.append(a)
    return ids, [np.zeros(len(x), np.int32) for x in ids]


def cmd_forward(a):
    cfg, w, mode, normalize = bert_ref.load_folder(a.model)
    lengths = [int(x) for x in a.lengths.split(",")]
    ids, types = make_batch(cfg, lengths, a.seed)
    model = MPNet(cfg, w)
    I, Y, M = bert_ref.padded(ids, types)
    with torch.no_grad():
        tok = model(I, Y, M)
    out = bert_ref.inputs_tensors(ids, types)
    del out["type_ids"]
    for m in ("mean", "cls", "max", "mean_sqrt_len"):
        e = bert_ref.pool(tok, M, m)
        out["pool." + m] = e.numpy().astype(np.float32)
        out["pool." + m + ".norm"] = torch.nn.functional.normalize(e, p=2, dim=1).numpy().astype(np.float32)
    rows, vals = [], []
    off = out["offsets"]
    for s, n in enumerate(lengths):
        for t in sorted({0, n // 2, n - 1}):
            rows.append(off[s] + t)
            vals.append(tok[s, t].numpy())
    out["tokens.rows"] = np.array(rows, np.int64)
    out["tokens"] = np.array(vals).astype(np.float32)
    out["buckets"] = relative_position_bucket(torch.arange(-1100, 1101)).numpy().astype(np.int32)
    bert_ref.st_save(a.out, out, {"model_pooling": mode, "model_normalize": str(int(normalize)),
                                  "made_by": "tests/ref/mpnet_ref.py forward"})


def cmd_embed(a):
    cfg, w, mode, normalize = bert_ref.load_folder(a.model)
    ids = [np.array(json.loads(line)["ids"], np.int32) for line in open(a.data)]
    I, Y, M = bert_ref.padded(ids, [np.zeros(len(x), np.int32) for x in ids])
    with torch.no_grad():
        e = bert_ref.pool(MPNet(cfg, w)(I, Y, M), M, mode)
        if normalize:
            e = torch.nn.functional.normalize(e, p=2, dim=1)
    with open(a.out, "w") as f:
        for row in e.numpy():
            f.write(" ".join("%.9g" % v for v in row) + "\n")


def cmd_train(a):
    """tests/ref/train_ref.py's main on MPNet (same options, same outputs)."""
    import loss_ref
    import train_ref
    torch.set_default_dtype(torch.float64)
    cfg, w, mode, normalize = bert_ref.load_folder(a.model)
    model = MPNet(cfg, w)
    rows = [json.loads(line) for line in open(a.data)]
    roles = ["anchor", "positive"]
    if a.loss in ("triplet",) or (a.loss == "mnrl" and "negative.ids" in rows[0]):
        roles.append("negative")
    batches = [train_ref.batch_of(rows, r) for r in roles]
    case = {"kind": a.loss, "symmetric": a.symmetric}
    loss_ref.defaults(case)
    if "score" in rows[0]:
        case["score"] = torch.tensor([float(r["score"]) for r in rows])
    named = [(k.replace("/", "."), p) for k, p in model.p.items()]
    if a.grad:
        return train_ref.grads(a, model, named, batches, case, mode, normalize, rows)
    nodecay_names = [n for n, _ in named if "bias" in n or "LayerNorm" in n]
    decay = [p for n, p in named if n not in nodecay_names]
    nodecay = [p for n, p in named if n in nodecay_names]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": nodecay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    W, T = a.warmup, a.steps
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: s / max(1, W) if s < W else max(0.0, (T - s) / max(1, T - W)))
    lines = []
    for step in range(1, T + 1):
        reps = []
        for I, Y, M in batches:
            e = bert_ref.pool(model(I, Y, M), M, mode)
            if normalize:
                e = torch.nn.functional.normalize(e, p=2, dim=1)
            reps.append(e)
        loss = loss_ref.loss_of(case, reps)
        opt.zero_grad()
        loss.backward()
        if a.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_([p for _, p in named], a.max_grad_norm)
        opt.step()
        sched.step()
        lines.append("loss\t%d\t%r" % (step, loss.item()))
    for n, p in named:
        lines.append("norm\t%s\t%r" % (n, p.detach().norm().item()))
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")


def cmd_shrink(a):
    import struct
    import zlib
    with open(a.model, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    meta = json.loads(buf[8:8 + n]).get("__metadata__")
    t = bert_ref.st_load(a.model)
    out = {}
    for name, g in t.items():
        if name.startswith("grad.") and not name.endswith(".rows") and g.ndim == 1 and g.shape[0] > a.elems:
            r = np.random.default_rng(zlib.crc32(name.encode()))
            rows = np.array(sorted(r.choice(g.shape[0], a.elems, replace=False).tolist()), np.int64)
            out[name + ".rows"] = rows
            out[name] = g[rows]
        elif name not in out:
            out[name] = g
    bert_ref.st_save(a.model, out, meta)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("forward")
    f.add_argument("model")
    f.add_argument("out")
    f.add_argument("--lengths", default="1,2,3,5,9,17,33,64,128,257,512")
    f.add_argument("--seed", type=int, default=1)
    m = sub.add_parser("embed")
    m.add_argument("model")
    m.add_argument("data")
    m.add_argument("out")
    t = sub.add_parser("train")
    t.add_argument("model")
    t.add_argument("data")
    t.add_argument("out")
    t.add_argument("--loss", default="mnrl")
    t.add_argument("--symmetric", type=int, default=0)
    t.add_argument("--steps", type=int, default=20)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--warmup", type=int, default=2)
    t.add_argument("--weight-decay", type=float, default=0.01)
    t.add_argument("--max-grad-norm", type=float, default=1.0)
    t.add_argument("--grad", action="store_true")
    t.add_argument("--rows", type=int, default=8)
    k = sub.add_parser("shrink")
    k.add_argument("model")
    k.add_argument("--elems", type=int, default=64)
    a = ap.parse_args()
    torch.manual_seed(0)
    {"forward": cmd_forward, "embed": cmd_embed, "train": cmd_train, "shrink": cmd_shrink}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
