#!/usr/bin/python3
"""The reference HDBSCAN on the points ctk-cluster gets, for bench/cluster:
scikit-learn-contrib/hdbscan release-0.8.40 from a source checkout built with
Debian's cython3 (HDBSCAN_SRC). Prints "seconds S peak_mb M clusters K noise Z"
and writes the labels (one a line) to OUT.
Usage: HDBSCAN_SRC=DIR hdbscan_peer.py X.npy MIN_CLUSTER_SIZE THREADS OUT"""
import os, resource, sys, time
sys.path.insert(0, os.environ["HDBSCAN_SRC"])
import numpy as np
import hdbscan

x = np.load(sys.argv[1]).astype(np.float64)
mcs, threads, out = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
t0 = time.perf_counter()
lab = hdbscan.HDBSCAN(min_cluster_size=mcs, core_dist_n_jobs=threads).fit(x).labels_
sec = time.perf_counter() - t0
np.savetxt(out, lab, fmt="%d")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"seconds {sec:.3f} peak_mb {peak:.0f} clusters {lab.max() + 1} noise {(lab < 0).sum()}")
