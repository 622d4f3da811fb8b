#!/usr/bin/python3
"""Gaussian mixture for bench/umap: N points in D dimensions, C clusters with
random centres and unequal spreads. Writes OUT.npy (float32, N x D) and
OUT.labels (one label a line).
Usage: mixture.py N D C SEED OUT"""
import sys
import numpy as np

n, d, c, seed, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rng = np.random.default_rng(seed)
centres = rng.normal(0, 1, size=(c, d)) * 2.0
scale = rng.uniform(0.5, 1.5, size=c)
lab = rng.integers(0, c, size=n)
x = centres[lab] + rng.normal(0, 1, size=(n, d)) * scale[lab, None] * (2.0 / np.sqrt(d)) * 3
np.save(out + ".npy", x.astype(np.float32))
with open(out + ".labels", "w") as f:
    f.write("".join(f"c{v}\n" for v in lab))
