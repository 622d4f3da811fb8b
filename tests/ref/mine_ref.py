#!/usr/bin/python3
# mine_ref.py -- the fixture and expected outputs of tests/bats/mine-negatives.bats:
# hard negatives by an exhaustive search written plainly (numpy, every corpus
# row scored in float64; BM25 by its formula), with the rules of
# sentence-transformers' mine_hard_negatives as ctk-mine-negatives(1) states
# them. Writes tests/golden/mine/{corpus,pairs}.tsv and one CASE.tsv per case.
#
#   /usr/bin/python3 tests/ref/mine_ref.py tests/golden/mine
import math
import sys

import numpy as np

out = sys.argv[1]
rng = np.random.default_rng(20261128)
D, NC = 8, 120
labels = ["a", "b", "c"]

# corpus: texts c000..c109, then ten rows repeating texts c000..c009 (five with
# another label: texts with two labels); rows 100..104 repeat the vectors of
# rows 20..24 under other texts (exact ties).
X = rng.standard_normal((NC, D))
lab = [labels[i % 3] for i in range(NC)]
text = ["c%03d" % i for i in range(110)] + ["c%03d" % i for i in range(10)]
for i in range(110, 120):
    lab[i] = lab[i - 110] if i < 115 else labels[(i - 110 + 1) % 3]
X[100:105] = X[20:25]
X = X.astype(np.float32)
# BM25 tokens: 3..9 ids from 0..29 per text (a duplicate text has the same tokens)
toks = {}
for t in text:
    if t not in toks:
        toks[t] = list(rng.integers(0, 30, size=int(rng.integers(3, 10))))

# pairs: 40 rows; anchors are corpus texts (rows 0..29; 0..4 twice, maybe with
# another positive) or texts outside the corpus (q0..q4); positives share the anchor's label
pairs = []
for i in range(40):
    if i < 30:
        a = i
        atext, avec, alab = text[a], X[a], lab[a]
    elif i < 35:
        a = i - 30
        atext, avec, alab = text[a], X[a], lab[a]
    else:
        atext, avec, alab = "q%d" % (i - 35), rng.standard_normal(D).astype(np.float32), labels[i % 3]
    same = [j for j in range(110) if lab[j] == alab and text[j] != atext]
    # the positive: one of the three nearest texts of the anchor's label
    near = sorted(same, key=lambda j: -float(X[j].astype(np.float64) @ avec.astype(np.float64)
                                             / np.linalg.norm(X[j].astype(np.float64))))
    p = near[int(rng.integers(0, 3))]
    pairs.append((atext, text[p], alab, avec, X[p]))
qtoks = {}
for (a, p, l, av, pv) in pairs:
    for t in (a, p):
        if t not in toks and t not in qtoks:
            qtoks[t] = list(rng.integers(0, 30, size=int(rng.integers(3, 10))))
alltoks = dict(toks, **qtoks)

def vec(v):
    return " ".join("%.9g" % x for x in v)

def ids(t):
    return " ".join(str(x) for x in alltoks[t])

with open(out + "/corpus.tsv", "w") as f:
    for j in range(NC):
        f.write("%s\t%s\t%s\t%s\n" % (lab[j], text[j], vec(X[j]), ids(text[j])))
with open(out + "/pairs.tsv", "w") as f:
    for (a, p, l, av, pv) in pairs:
        f.write("%s\t%s\t%s\t%s\t%s\t%s\t%s\n" % (a, p, l, vec(av), vec(pv), ids(a), ids(p)))

# --- the reference miner ---------------------------------------------------------
first = {}
labset = {}
for j in range(NC):
    first.setdefault(text[j], j)
    labset.setdefault(text[j], set()).add(lab[j])
uniq = [j for j in range(NC) if first[text[j]] == j]

def cos(u, v):
    u = u.astype(np.float64)
    v = v.astype(np.float64)
    nu, nv = math.sqrt(u @ u), math.sqrt(v @ v)
    return float(u @ v) / (nu * nv) if nu > 0 and nv > 0 else 0.0

# BM25 over the distinct texts, Lucene idf
docs = {j: alltoks[text[j]] for j in uniq}
Ndocs = len(docs)

def bm25(q, d, k1, b, avgdl, df):
    s = 0.0
    for t in q:
        n = df.get(t, 0)
        if n == 0:
            continue
        idf = math.log(1 + (Ndocs - n + 0.5) / (n + 0.5))
        tf = d.count(t)
        if tf:
            s += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(d) / avgdl))
    return s

def mine(num=3, rmin=0, rmax=None, margin=None, rel=None, maxs=None, mins=None,
         use_labels=True, method="model", k1=1.2, b=0.75, fmt="triplet", curriculum=False):
    if rmax is None:
        rmax = rmin + (10 if (margin is not None or rel is not None or maxs is not None) else 1) * num
    avgdl = sum(len(d) for d in docs.values()) / Ndocs
    df = {}
    for d in docs.values():
        for t in set(d):
            df[t] = df.get(t, 0) + 1
    possets = {}
    for (a, p, l, av, pv) in pairs:
        if p in first:
            possets.setdefault(a, set()).add(first[p])
    rows = []
    for (a, p, l, av, pv) in pairs:
        L = l if use_labels else None
        selfrow = first.get(a, -1)
        pos = possets.get(a, set())
        cand = []
        for j in uniq:
            if L is not None and (L in labset[text[j]]):
                continue  # its label, or a text with two labels one of which is L
            if method == "model":
                s = cos(av, X[j])
            else:
                s = bm25(alltoks[a], docs[j], k1, b, avgdl, df)
                if s <= 0:
                    continue
            cand.append((-s, j, s))
        cand.sort()
        ps = cos(av, pv) if method == "model" else bm25(alltoks[a], alltoks[p], k1, b, avgdl, df)
        chosen, rank, surv = [], 0, 0
        for (_, j, s) in cand:
            if rank >= rmax:
                break
            if j == selfrow or j in pos:
                continue
            rank += 1
            if margin is not None and s + margin > ps:
                continue
            if rel is not None and s > ps * (1 - rel):
                continue
            if maxs is not None and s > maxs:
                continue
            if mins is not None and s < mins:
                continue
            surv += 1
            if surv <= rmin:
                continue
            if len(chosen) < num:
                chosen.append((text[j], s))
        if fmt == "triplet":
            for (t, s) in chosen:
                rows.append((s, [a, p, t], [s]))
        elif len(chosen) == num:
            rows.append((chosen[0][1], [a, p] + [t for t, _ in chosen], [s for _, s in chosen]))
    if curriculum:
        # by the F32 score the program writes (stable: ties keep pair order)
        rows = sorted(rows, key=lambda r: float(np.float32(r[0])))
    return rows

cases = {
    "default": dict(),
    "window-margin": dict(num=2, rmin=1, rmax=8, margin=0.05),
    "relmargin-scores": dict(num=4, rel=0.1, maxs=0.6, mins=-0.5),
    "nolabels": dict(use_labels=False),
    "bm25": dict(method="bm25", k1=1.5, b=0.6),
    "ntuple-curriculum": dict(num=2, fmt="n-tuple", curriculum=True),
}
for name, kw in cases.items():
    with open("%s/%s.tsv" % (out, name), "w") as f:
        for (_, cols, scores) in mine(**kw):
            f.write("\t".join(cols) + "\t" + "\t".join("%.6f" % s for s in scores) + "\n")
