#!/usr/bin/python3
"""optim_ref.py -- reference values for tests/unit/test_optim.c.

PyTorch's own optimizers on seeded random gradients:
  dense.txt       torch.optim.AdamW, two parameter groups (weight decay on the
                  matrix, none on the bias), transformers' linear warm-up/decay
                  schedule (written out as a LambdaLR, transformers is not
                  installed) and torch.nn.utils.clip_grad_norm_.
  sparse.txt      torch.optim.SparseAdam on an embedding table whose rows are
                  touched on some steps only (lazy Adam: untouched rows keep
                  weights and moments); no decay, no clipping.
  sparse-decay.txt  torch.optim.AdamW on the rows that every step touches,
                  with decay; the other rows must stay as they were.

Writes "key value..." lines: the options, initial weights, then per step
"grad<t>", "lr<t>", "norm<t>" and the weights after it "w<t>".
Run: /usr/bin/python3 tests/ref/optim_ref.py tests/golden/optim
"""
import os
import sys

import torch

LR, B1, B2, EPS, WD = 1e-2, 0.9, 0.999, 1e-8, 0.01


def fmt(t):
    return " ".join(repr(float(x)) for x in t.flatten())


def linear_schedule(W, T):
    def f(s):
        if s < W:
            return s / max(1, W)
        return max(0.0, (T - s) / max(1, T - W))
    return f


def dense(g, out):
    W0 = torch.randn(4, 3, generator=g)
    b0 = torch.randn(3, generator=g)
    w, b = W0.clone().requires_grad_(), b0.clone().requires_grad_()
    steps, warm = 6, 2
    opt = torch.optim.AdamW([{"params": [w], "weight_decay": WD},
                             {"params": [b], "weight_decay": 0.0}],
                            lr=LR, betas=(B1, B2), eps=EPS)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, linear_schedule(warm, steps))
    L = [f"lr {LR!r}", f"beta1 {B1!r}", f"beta2 {B2!r}", f"eps {EPS!r}",
         f"weight_decay {WD!r}", "max_grad_norm 1.0", f"warmup {warm}", f"steps {steps}",
         "shapes 12 3", "w0 " + fmt(W0) + " " + fmt(b0)]
    for t in range(1, steps + 1):
        # some steps above the clipping norm, some below
        scale = 2.0 if t % 2 else 0.2
        gw = (torch.randn(4, 3, generator=g) * scale)
        gb = (torch.randn(3, generator=g) * scale)
        w.grad, b.grad = gw.clone(), gb.clone()
        L.append(f"lr{t} {opt.param_groups[0]['lr']!r}")
        norm = torch.nn.utils.clip_grad_norm_([w, b], 1.0)
        L.append(f"grad{t} " + fmt(gw) + " " + fmt(gb))
        L.append(f"norm{t} {norm.item()!r}")
        opt.step()
        sched.step()
        L.append(f"w{t} " + fmt(w.detach()) + " " + fmt(b.detach()))
    out.write("\n".join(L) + "\n")


def sparse(g, out):
    E0 = torch.randn(6, 2, generator=g)
    e = E0.clone().requires_grad_()
    opt = torch.optim.SparseAdam([e], lr=LR, betas=(B1, B2), eps=EPS)
    touched = {1: [0, 2, 5, 1], 2: [0, 2, 5], 3: [0, 2, 5, 1], 4: [5, 0, 2, 3]}
    L = [f"lr {LR!r}", f"beta1 {B1!r}", f"beta2 {B2!r}", f"eps {EPS!r}", "weight_decay 0.0",
         "max_grad_norm 0", "warmup 0", f"steps {len(touched)}", "rows 6 2",
         "w0 " + fmt(E0)]
    for t, rows in touched.items():
        G = torch.zeros(6, 2)
        G[rows] = torch.randn(len(rows), 2, generator=g)
        e.grad = torch.sparse_coo_tensor(torch.tensor([rows]), G[rows], (6, 2))
        opt.step()
        L.append(f"touched{t} " + " ".join(str(r) for r in rows))
        L.append(f"grad{t} " + fmt(G))
        L.append(f"lr{t} {LR!r}")
        L.append(f"w{t} " + fmt(e.detach()))
    out.write("\n".join(L) + "\n")


def sparse_decay(g, out):
    E0 = torch.randn(5, 3, generator=g)
    rows = [0, 3]
    sub = E0[rows].clone().requires_grad_()
    opt = torch.optim.AdamW([sub], lr=LR, betas=(B1, B2), eps=EPS, weight_decay=WD)
    L = [f"lr {LR!r}", f"beta1 {B1!r}", f"beta2 {B2!r}", f"eps {EPS!r}",
         f"weight_decay {WD!r}", "max_grad_norm 0", "warmup 0", "steps 3", "rows 5 3",
         "w0 " + fmt(E0)]
    E = E0.clone()
    for t in range(1, 4):
        G = torch.zeros(5, 3)
        G[rows] = torch.randn(2, 3, generator=g)
        sub.grad = G[rows].clone()
        opt.step()
        E[rows] = sub.detach()
        L.append(f"touched{t} " + " ".join(str(r) for r in rows))
        L.append(f"grad{t} " + fmt(G))
        L.append(f"lr{t} {LR!r}")
        L.append(f"w{t} " + fmt(E))
    out.write("\n".join(L) + "\n")


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    for name, fn in (("dense", dense), ("sparse", sparse), ("sparse-decay", sparse_decay)):
        with open(os.path.join(outdir, name + ".txt"), "w") as f:
            fn(g, f)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/optim")
