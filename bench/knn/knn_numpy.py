#!/usr/bin/python3
# knn_numpy.py -- the numpy peer of knn_bench: exact top-k cosine search,
# blocked (1024 queries x 4096 corpus rows a product, as lib/knn.c), top-k
# kept with argpartition over the running best and each block, on the same
# data (the same SplitMix64 + Box-Muller generator as knn_bench.c).
#
#   /usr/bin/python3 bench/knn/knn_numpy.py [NQ NX D K]
# Uses Debian's python3-numpy over OpenBLAS (OPENBLAS_NUM_THREADS to choose).
import resource
import sys
import time

import numpy as np

M64 = (1 << 64) - 1


def gen(n, d, seed, rows=4096):
    """n unit vectors (float32) from SplitMix64, vectorised over uint64,
    made a few thousand rows at a time to keep the temporaries small."""
    out = np.empty((n, d), dtype=np.float32)
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        i = np.arange(2 * r0 * d + 1, 2 * r1 * d + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            z = np.uint64(seed) + i * np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z ^= z >> np.uint64(31)
        u = (z >> np.uint64(11)).astype(np.float64) / 9007199254740992.0
        g = np.sqrt(-2.0 * np.log1p(-u[0::2])) * np.cos(6.283185307179586 * u[1::2])
        g = g.reshape(r1 - r0, d)
        g32 = g.astype(np.float32)
        out[r0:r1] = g32 / np.sqrt((g * g).sum(axis=1, keepdims=True))
    return out


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
            ci = np.concatenate([best_i, np.broadcast_to(np.arange(x0, x0 + s.shape[1]),
                                                        s.shape)], axis=1)
            part = np.argpartition(-cs, k - 1, axis=1)[:, :k]
            best_s = np.take_along_axis(cs, part, axis=1)
            best_i = np.take_along_axis(ci, part, axis=1)
        order = np.argsort(-best_s, axis=1, kind="stable")
        idx[q0:q0 + qb] = np.take_along_axis(best_i, order, axis=1)
    return idx


def main():
    a = [int(x) for x in sys.argv[1:]]
    nq, nx, d, k = (a + [10000, 100000, 384, 10][len(a):])[:4]
    X, Q = gen(nx, d, 1), gen(nq, d, 2)
    t0 = time.perf_counter()
    idx = search(Q, X, k)
    t = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("numpy knn: %d queries x %d corpus, d=%d, k=%d: %.3f s, peak RSS %.0f MB"
          % (nq, nx, d, k, t, rss))
    h = 0
    for v in idx.ravel():
        h = (h * 1000003 + int(v)) & M64
    print("index checksum %d, first row: %s" % (h, " ".join(str(v) for v in idx[0])))


if __name__ == "__main__":
    main()
