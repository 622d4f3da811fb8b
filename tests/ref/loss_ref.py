#!/usr/bin/python3
"""loss_ref.py -- reference values for tests/unit/test_loss.c.

For each loss of ctk-train-mnrl, a seeded random batch of embeddings goes
through the loss written with the PyTorch ops sentence-transformers uses
(losses/MultipleNegativesRankingLoss.py, MultipleNegativesSymmetricRankingLoss,
CosineSimilarityLoss, ContrastiveLoss, OnlineContrastiveLoss, TripletLoss),
in float64, and autograd gives the gradient with respect to every embedding.
The false-negative mask of ctk's MNRL (same-label in-batch positives left out
of the softmax, and, when the hard negatives' labels are given, every hard
negative of the anchor's label) is written here as a -inf logit.

Writes tests/golden/loss/NAME.txt: "key value..." lines read by the C test.
Run: /usr/bin/python3 tests/ref/loss_ref.py tests/golden/loss
"""
import os
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def cos_sim(a, b):
    return torch.mm(F.normalize(a, p=2, dim=1), F.normalize(b, p=2, dim=1).t())


def masked(scores, label, S, nlabel=None):
    """-inf where candidate j < S (an in-batch positive) has row i's label, j != i;
    with nlabel (the classes of the hard-negative candidates j >= S, -1 unknown),
    also where a hard negative has row i's label."""
    if label is None:
        return scores
    same = label[:, None] == label[None, :]
    same.fill_diagonal_(False)
    m = torch.zeros_like(scores, dtype=torch.bool)
    m[:, :S] = same
    if nlabel is not None:
        m[:, S:] = (label[:, None] == nlabel[None, :]) & (nlabel[None, :] >= 0)
    return scores.masked_fill(m, float("-inf"))


def mnrl(reps, scale, symmetric, label, nlabel=None):
    a, cand = reps[0], torch.cat(reps[1:])
    S = len(a)
    scores = cos_sim(a, cand) * scale
    target = torch.arange(S)
    fwd = F.cross_entropy(masked(scores, label, S, nlabel), target)
    if not symmetric:
        return fwd
    bwd = F.cross_entropy(masked(scores[:, :S].t(), label, S), target)
    return (fwd + bwd) / 2


def dist(kind, x, y):
    if kind == "cosine":
        return 1 - F.cosine_similarity(x, y)
    return F.pairwise_distance(x, y, p=2)


def loss_of(case, reps):
    k = case["kind"]
    if k in ("mnrl", "simcse"):
        return mnrl(reps, case["scale"], case["symmetric"], case.get("label"),
                    case.get("nlabel"))
    y = case.get("score")
    if k == "cosine":
        return F.mse_loss(F.cosine_similarity(reps[0], reps[1]), y)
    if k == "contrastive":
        d = dist(case["distance"], reps[0], reps[1])
        return (0.5 * (y * d.pow(2) + (1 - y) * F.relu(case["margin"] - d).pow(2))).mean()
    if k == "online-contrastive":
        d = dist(case["distance"], reps[0], reps[1])
        negs, poss = d[y == 0], d[y == 1]
        neg = negs[negs < (poss.max() if len(poss) > 1 else negs.mean())]
        pos = poss[poss > (negs.min() if len(negs) > 1 else poss.mean())]
        return pos.pow(2).sum() + F.relu(case["margin"] - neg).pow(2).sum()
    if k == "triplet":
        dp = dist(case["distance"], reps[0], reps[1])
        dn = dist(case["distance"], reps[0], reps[2])
        return F.relu(dp - dn + case["margin"]).mean()
    raise ValueError(k)


CASES = [
    dict(name="mnrl", kind="mnrl", K=2, S=5, D=8),
    dict(name="mnrl-hardneg", kind="mnrl", K=4, S=4, D=6),
    dict(name="mnrl-scale7", kind="mnrl", K=3, S=4, D=6, scale=7.0),
    dict(name="mnrl-symmetric", kind="mnrl", K=3, S=5, D=6, symmetric=1),
    dict(name="mnrl-labels", kind="mnrl", K=2, S=6, D=5, label=[0, 1, 0, 1, 1, 0]),
    dict(name="mnrl-labels-symmetric", kind="mnrl", K=3, S=6, D=5, symmetric=1,
         label=[2, 0, 2, 1, 0, 2]),
    dict(name="simcse", kind="simcse", K=2, S=6, D=7, scale=20.0),
    dict(name="cosine", kind="cosine", K=2, S=6, D=5, score="unit"),
    dict(name="contrastive", kind="contrastive", K=2, S=6, D=5, score="binary"),
    dict(name="contrastive-euclidean", kind="contrastive", K=2, S=6, D=5, score="binary",
         distance="euclidean", margin=2.5),
    dict(name="online-contrastive", kind="online-contrastive", K=2, S=8, D=4, score="binary"),
    dict(name="online-contrastive-euclidean", kind="online-contrastive", K=2, S=8, D=4,
         score="binary", distance="euclidean", margin=3.0),
    dict(name="triplet", kind="triplet", K=3, S=6, D=5),
    dict(name="triplet-cosine", kind="triplet", K=3, S=6, D=5, distance="cosine", margin=0.3),
    # hard negatives with classes (row 0's own negative of its class, -1 unknown)
    dict(name="mnrl-neglabels", kind="mnrl", K=4, S=6, D=5, label=[0, 1, 2, 0, 1, 2],
         nlabel=[0, 2, 0, -1, 0, 1, 2, 0, 1, 1, -1, 0]),
    dict(name="mnrl-neglabels-symmetric", kind="mnrl", K=3, S=6, D=5, symmetric=1, scale=10.0,
         label=[1, 0, 1, 0, 1, 0], nlabel=[0, 1, 0, -1, 1, 1]),
]


def defaults(c):
    c.setdefault("scale", 20.0)
    c.setdefault("symmetric", 0)
    if c["kind"] == "triplet":
        c.setdefault("margin", 5.0)
        c.setdefault("distance", "euclidean")
    else:
        c.setdefault("margin", 0.5)
        c.setdefault("distance", "cosine")


def fmt(xs):
    return " ".join(repr(float(x)) for x in xs)


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    g = torch.Generator().manual_seed(20261128)
    for c in CASES:
        defaults(c)
        K, S, D = c["K"], c["S"], c["D"]
        # float32 values, so that the C test reads exactly what was used
        emb = torch.randn(K, S, D, generator=g, dtype=torch.float32).double()
        if c["kind"] == "online-contrastive":
            # the second text near the first for some rows, so that both
            # selections are exercised
            emb[1, ::2] = (emb[0, ::2] + 0.3 * emb[1, ::2]).float().double()
        emb.requires_grad_(True)
        lines = [f"kind {c['kind']}", f"scale {c['scale']!r}", f"margin {c['margin']!r}",
                 f"distance {c['distance']}", f"symmetric {c['symmetric']}",
                 f"K {K}", f"S {S}", f"D {D}"]
        if c.get("score") == "unit":
            c["score"] = torch.rand(S, generator=g, dtype=torch.float32).double()
        elif c.get("score") == "binary":
            c["score"] = torch.tensor([float(i % 2) for i in range(S)])
        if "score" in c:
            lines.append("score " + fmt(c["score"]))
        if "label" in c:
            lines.append("label " + " ".join(str(v) for v in c["label"]))
            c["label"] = torch.tensor(c["label"])
        if "nlabel" in c:
            lines.append("nlabel " + " ".join(str(v) for v in c["nlabel"]))
            c["nlabel"] = torch.tensor(c["nlabel"])
        reps = [emb[k] for k in range(K)]
        loss = loss_of(c, reps)
        loss.backward()
        lines.append("emb " + fmt(emb.detach().flatten()))
        lines.append("loss " + repr(loss.item()))
        lines.append("grad " + fmt(emb.grad.flatten()))
        with open(os.path.join(outdir, c["name"] + ".txt"), "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/loss")
