#!/usr/bin/python3
"""train_ref.py -- the reference for ctk-train-mnrl on BERT models.

The same steps as ctk-train-mnrl, in PyTorch, in float64: the BERT of
tests/ref/bert_ref.py (Hugging Face's BertModel transcribed, dropout off),
sentence-transformers' pooling and Normalize, the loss as
tests/ref/loss_ref.py writes sentence-transformers' losses, torch.optim.AdamW
with weight decay on every tensor but biases and LayerNorm weights,
transformers' linear warm-up/decay schedule and clip_grad_norm_.

The batch is the whole data set (one batch per step, rows in file order):
every loss here is invariant under a permutation of the batch's rows, so
ctk's shuffled order gives the same values.

  train_ref.py MODEL DATA.jsonl OUT.tsv [--loss L] [--steps 20] [--lr X]
               [--warmup N] [--weight-decay X] [--max-grad-norm X]

DATA.jsonl: rows of anchor.ids, positive.ids, [negative.ids], [score].
OUT.tsv: "loss STEP VALUE" for every step, then "norm NAME VALUE" for every
parameter after the last step.

  train_ref.py MODEL DATA.jsonl OUT.safetensors --grad [--loss L] [--rows K]

The loss of the whole data set as one batch and the gradient of every
parameter ("loss", "grad.NAME"); a matrix with more than K rows (default 8)
keeps K sampled rows ("grad.NAME.rows"), plus, for the word embeddings, rows
of tokens the batch uses and, for positions, the first ones.
Run with Debian's python3: /usr/bin/python3 tests/ref/train_ref.py ...
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bert_ref  # noqa: E402
import loss_ref  # noqa: E402


def batch_of(rows, role):
    ids = [r[role + ".ids"] for r in rows]
    types = [[0] * len(x) for x in ids]
    return bert_ref.padded(ids, types)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model")
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--loss", default="mnrl")
    ap.add_argument("--symmetric", type=int, default=0)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--max-grad-norm", type=float, default=1.0)
    ap.add_argument("--grad", action="store_true")
    ap.add_argument("--rows", type=int, default=8)
    a = ap.parse_args()

    torch.set_default_dtype(torch.float64)
    cfg, w, mode, normalize = bert_ref.load_folder(a.model)
    model = bert_ref.Bert(cfg, w)
    rows = [json.loads(line) for line in open(a.data)]
    roles = ["anchor", "positive"]
    if a.loss in ("triplet",) or (a.loss == "mnrl" and "negative.ids" in rows[0]):
        roles.append("negative")
    if a.loss == "simcse":  # the anchor text twice (dropout off: the same embedding)
        roles = ["anchor", "anchor"]
    batches = [batch_of(rows, r) for r in roles]
    case = {"kind": a.loss, "symmetric": a.symmetric}
    loss_ref.defaults(case)
    if "score" in rows[0]:
        case["score"] = torch.tensor([float(r["score"]) for r in rows])

    named = [(k.replace("/", "."), p) for k, p in model.p.items()]
    if a.grad:
        return grads(a, model, named, batches, case, mode, normalize, rows)
    decay = [p for n, p in named if not (n.endswith("bias") or "LayerNorm" in n)]
    nodecay = [p for n, p in named if n.endswith("bias") or "LayerNorm" in n]
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


def grads(a, model, named, batches, case, mode, normalize, rows):
    import numpy as np
    import zlib
    reps = []
    for I, Y, M in batches:
        e = bert_ref.pool(model(I, Y, M), M, mode)
        if normalize:
            e = torch.nn.functional.normalize(e, p=2, dim=1)
        reps.append(e)
    loss = loss_ref.loss_of(case, reps)
    loss.backward()
    out = {"loss": np.array([loss.item()], np.float64).astype(np.float32)}
    used = sorted({t for r in rows for k in ("anchor", "positive", "negative")
                   for t in r.get(k + ".ids", [])})
    for n, p in named:
        g = p.grad.numpy()
        if g.ndim == 2 and g.shape[0] > a.rows:
            r = np.random.default_rng(zlib.crc32(n.encode()))
            pick = set(r.choice(g.shape[0], a.rows, replace=False).tolist())
            if n == "embeddings.word_embeddings.weight":
                pick |= set(used[:3 * a.rows])
            if n == "embeddings.position_embeddings.weight":
                pick |= {0, 1, 2}
            sel = np.array(sorted(pick), np.int64)
            out["grad." + n + ".rows"] = sel
            out["grad." + n] = g[sel].astype(np.float32)
        else:
            out["grad." + n] = g.astype(np.float32)
    bert_ref.st_save(a.out, out, {"loss_f64": repr(loss.item()), "loss": a.loss,
                                  "made_by": "tests/ref/train_ref.py --grad"})


if __name__ == "__main__":
    main()
