#!/usr/bin/python3
"""diag_ref.py -- reference values for lib/diag (tests/unit/test_diag.c).

Computes every figure of ctk-diag with numpy, scipy and scikit-learn, on
small random data, independently of the C code, and writes
tests/golden/diag/random.txt: one record per line, "KEY COUNT v1 ... vCOUNT".
Run with Debian's python (numpy, scipy, scikit-learn):

    /usr/bin/python3 tests/ref/diag_ref.py tests/golden/diag/random.txt
"""
import sys

import numpy as np
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors

rng = np.random.default_rng(20201)
N, D, C, K = 60, 8, 3, 5

# three clusters of different spread, labels shuffled
centres = rng.normal(size=(C, D)) * 1.5
y = rng.permutation(np.arange(N) % C)
x = (centres[y] + rng.normal(size=(N, D)) * np.array([0.6, 1.0, 1.4])[y][:, None]).astype(np.float32)

# positive pairs a, b (alignment), and STS-like pairs with gold scores in
# steps of 0.5 (ties) and a repeated pair (tied cosines)
P = 25
a = rng.normal(size=(P, D)).astype(np.float32)
b = (a + rng.normal(size=(P, D)) * 0.7).astype(np.float32)
b[7] = b[3]
a[7] = a[3]
gold = np.round(rng.uniform(0, 5, size=P) * 2) / 2

X = x.astype(np.float64)
U = X / np.linalg.norm(X, axis=1, keepdims=True)
out = []


def rec(key, vals):
    vals = np.asarray(vals, dtype=np.float64).ravel()
    out.append(key + " " + str(vals.size) + " " + " ".join(repr(float(v)) for v in vals))


rec("shape", [N, D, C, K])
rec("x", x)
rec("y", y)
rec("a", a)
rec("b", b)
rec("gold", gold)

A = a.astype(np.float64)
B = b.astype(np.float64)
An = A / np.linalg.norm(A, axis=1, keepdims=True)
Bn = B / np.linalg.norm(B, axis=1, keepdims=True)
rec("alignment", [np.mean(np.sum((An - Bn) ** 2, axis=1))])
pc = np.sum(An * Bn, axis=1)
rec("pair_cos", pc)
rec("spearman", [spearmanr(pc, gold).correlation])

sq = pdist(U, "sqeuclidean")
rec("uniformity", [np.log(np.mean(np.exp(-2 * sq)))])
cos = U @ U.T
iu = np.triu_indices(N, 1)
rec("mean_cos", [np.mean(cos[iu])])
rec("variance", np.var(U, axis=0))
rec("total_variance", [np.sum(np.var(U, axis=0))])
s = np.linalg.svd(U - U.mean(axis=0), compute_uv=False)
ev = np.sort(s ** 2 / N)[::-1]
rec("eig", ev)
rec("top1", [ev[0] / ev.sum()])
rec("top3", [ev[:3].sum() / ev.sum()])
p = s / s.sum()
p = p[p > 0]
rec("erank", [np.exp(-np.sum(p * np.log(p)))])

size, intra, rms, cdist, cent = [], [], [], [], []
same = []
for c in range(C):
    m = y == c
    Uc = U[m]
    n = len(Uc)
    cc = Uc @ Uc.T
    size.append(n)
    intra.append((cc.sum() - np.trace(cc)) / (n * (n - 1)))
    mu = Uc.mean(axis=0)
    cent.append(mu)
    rms.append(np.sqrt(np.mean(np.sum((Uc - mu) ** 2, axis=1))))
    cdist.append(np.mean(np.linalg.norm(Uc - mu, axis=1)))
    same.extend(pdist(Uc, "sqeuclidean"))
cent = np.array(cent)
cn = cent / np.linalg.norm(cent, axis=1, keepdims=True)
ccos = cn @ cn.T
nearest, cross, margin = [], [], []
for c in range(C):
    o = [j for j in range(C) if j != c]
    j = o[int(np.argmax(ccos[c, o]))]
    nearest.append(j)
    cr = np.mean(U[y == c] @ U[y == j].T)
    cross.append(cr)
    margin.append(intra[c] - cr)
rec("class_size", size)
rec("class_intra", intra)
rec("class_rms", rms)
rec("class_cdist", cdist)
rec("centroid_cos", ccos)
rec("class_nearest", nearest)
rec("class_cross", cross)
rec("class_margin", margin)
rec("label_alignment", [np.mean(same)])

rec("silhouette", [silhouette_score(x, y, metric="cosine")])
nn = NearestNeighbors(n_neighbors=K, metric="cosine", algorithm="brute").fit(X)
ind = nn.kneighbors(return_distance=False)  # X=None: each point's neighbours without itself
pred = np.array([np.argmax(np.bincount(y[r], minlength=C)) for r in ind])
rec("knn_acc", [np.mean(pred == y)])
conf = np.zeros((C, C))
for t, q in zip(y, pred):
    conf[t, q] += 1
rec("confusion", conf)

with open(sys.argv[1], "w") as f:
    f.write("# made by tests/ref/diag_ref.py (numpy %s); KEY COUNT values\n" % np.__version__)
    f.write("\n".join(out) + "\n")
