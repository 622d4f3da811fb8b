#!/usr/bin/python3
"""umap-learn side of bench/umap: fit on X.npy, write the embedding, print
the time of a warm fit (a first fit compiles numba's functions) and the
peak resident memory.
Usage: UMAP_SRC=/path/to/umap-release-0.5.7 umap_learn.py X.npy OUT.npy [METRIC] [SEED|-]"""
import os, resource, sys, time
sys.path.insert(0, os.environ["UMAP_SRC"])
import numpy as np
import umap

x = np.load(sys.argv[1])
metric = sys.argv[3] if len(sys.argv) > 3 else "euclidean"
seed = None if len(sys.argv) <= 4 or sys.argv[4] == "-" else int(sys.argv[4])
umap.UMAP(metric=metric, random_state=seed, n_epochs=5).fit_transform(x[:500])  # warm the JIT
t0 = time.perf_counter()
y = umap.UMAP(metric=metric, random_state=seed).fit_transform(x)
dt = time.perf_counter() - t0
np.save(sys.argv[2], y.astype(np.float32))
print(f"seconds {dt:.3f} peak_rss_mb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
