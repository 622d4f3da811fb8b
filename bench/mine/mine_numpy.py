#!/usr/bin/python3
# mine_numpy.py -- the numpy peer of ctk-mine-negatives --method model: exact
# top-k cosine search of the queries over the corpus, blocked as lib/knn.c
# (1024 queries x 4096 corpus rows a product, through OpenBLAS sgemm), the
# running top-k kept with argpartition. Reads the .npy files run.sh exports.
#
#   /usr/bin/python3 bench/mine/mine_numpy.py QUERIES.npy CORPUS.npy K OUT.txt
# Prints the search time, the whole time (with loading and normalising) and
# the peak RSS; writes each query's indices, nearest first, to OUT.txt.
import resource
import sys
import time

import numpy as np


def search(Q, X, k, qb=1024, xb=4096):
    nq = Q.shape[0]
    idx = np.empty((nq, k), dtype=np.int64)
    for q0 in range(0, nq, qb):
        q = Q[q0:q0 + qb]
        best_s = np.full((q.shape[0], k), -np.inf, dtype=np.float32)
        best_i = np.full((q.shape[0], k), -1, dtype=np.int64)
        for x0 in range(0, X.shape[0], xb):
            s = q @ X[x0:x0 + xb].T
            cs = np.concatenate([best_s, s], axis=1)
            ci = np.concatenate([best_i, np.broadcast_to(np.arange(x0, x0 + s.shape[1]), s.shape)], axis=1)
            part = np.argpartition(-cs, k - 1, axis=1)[:, :k]
            best_s = np.take_along_axis(cs, part, axis=1)
            best_i = np.take_along_axis(ci, part, axis=1)
        order = np.argsort(-best_s, axis=1, kind="stable")
        idx[q0:q0 + qb] = np.take_along_axis(best_i, order, axis=1)
    return idx


def main():
    t0 = time.perf_counter()
    Q = np.load(sys.argv[1]).astype(np.float32)
    X = np.load(sys.argv[2]).astype(np.float32)
    k = int(sys.argv[3])
    # cosine: normalise both sides (the vectors are unit already; this is the work a cosine search does)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    t1 = time.perf_counter()
    idx = search(Q, X, k)
    t2 = time.perf_counter()
    np.savetxt(sys.argv[4], idx, fmt="%d")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("numpy: %d queries x %d corpus, d=%d, top-%d: search %.2f s, whole %.2f s, peak RSS %.0f MB"
          % (Q.shape[0], X.shape[0], X.shape[1], k, t2 - t1, t2 - t0, rss))


if __name__ == "__main__":
    main()
