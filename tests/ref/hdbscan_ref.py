#!/usr/bin/python3
"""Fixtures for tests/unit/test_hdbscan.c from the reference implementation,
scikit-learn-contrib/hdbscan release-0.8.40 (built from a source checkout with
Debian's cython3; pass its folder as HDBSCAN_SRC). Writes
tests/golden/hdbscan/NAME.txt:

    n d min_cluster_size min_samples selection metric
    x_1 ... x_d label probability        (one line a point)

Usage: HDBSCAN_SRC=/path/to/hdbscan tests/ref/hdbscan_ref.py OUTDIR
"""
import os, sys
sys.path.insert(0, os.environ["HDBSCAN_SRC"])
import numpy as np
import hdbscan

out = sys.argv[1]
rng = np.random.default_rng(7)


def blobs(centers, sizes, scales, d):
    pts = [rng.normal(c, s, size=(n, d)) for c, n, s in zip(centers, sizes, scales)]
    return np.vstack(pts)


cases = []
# three 2-D blobs of different density plus uniform background noise
x = blobs([[0, 0], [6, 0], [3, 5]], [200, 150, 100], [0.5, 0.8, 0.3], 2)
x = np.vstack([x, rng.uniform(-4, 10, size=(50, 2))])
cases.append(("blobs2d", x, 15, 0, "eom", "euclidean"))
cases.append(("blobs2d_leaf", x, 15, 5, "leaf", "euclidean"))
# five clusters in 8 dimensions, as UMAP output for clustering would be
c = rng.uniform(-10, 10, size=(5, 8))
x = blobs(c, [120, 200, 80, 150, 100], [0.6, 1.0, 0.4, 0.8, 0.5], 8)
cases.append(("blobs8d", x, 10, 0, "eom", "euclidean"))
# nested structure: a large cluster containing two sub-clusters
x = np.vstack([blobs([[0, 0], [1.2, 0]], [150, 150], [0.25, 0.25], 2), blobs([[8, 8]], [100], [1.5], 2)])
cases.append(("nested", x, 20, 10, "eom", "euclidean"))

for name, x, mcs, ms, sel, metric in cases:
    x = x.astype(np.float32)
    kw = dict(min_cluster_size=mcs, cluster_selection_method=sel, metric=metric, algorithm="generic")
    if ms:
        kw["min_samples"] = ms
    cl = hdbscan.HDBSCAN(**kw).fit(x.astype(np.float64))
    with open(os.path.join(out, name + ".txt"), "w") as f:
        f.write(f"{x.shape[0]} {x.shape[1]} {mcs} {ms} {sel} {metric}\n")
        for row, lab, p in zip(x, cl.labels_, cl.probabilities_):
            f.write(" ".join(repr(float(v)) for v in row) + f" {lab} {p:.9g}\n")
    print(name, x.shape, "clusters", cl.labels_.max() + 1, "noise", int((cl.labels_ < 0).sum()))
