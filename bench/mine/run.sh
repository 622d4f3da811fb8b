#!/bin/sh
# bench/mine/run.sh -- ctk-mine-negatives --method model against numpy over
# OpenBLAS doing the same exact blocked top-k, side by side in one run:
# 10,000 queries over 100,000 corpus vectors of dimension 384, top 10.
#
#   bench/mine/run.sh BUILDDIR [NQ NX D K]
# BUILDDIR is a configured build folder after `make check` (it holds
# bin/ctk-mine-negatives, bin/ctk-cat and bench/mine/mine_gen). Data go to
# $TMPDIR (about 200 MB). Both sides use OPENBLAS_CORETYPE=SkylakeX (Debian's
# OpenBLAS 0.3.21 misdetects this CPU) and the same thread count.
set -eu
B=${1:?usage: run.sh BUILDDIR [NQ NX D K]}
NQ=${2:-10000} NX=${3:-100000} D=${4:-384} K=${5:-10}
T=$(mktemp -d "${TMPDIR:-/tmp}/mine-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT
export OPENBLAS_CORETYPE=SkylakeX
J=${CTK_THREADS:-$(nproc)}
export OPENBLAS_NUM_THREADS=$J
HERE=$(cd "$(dirname "$0")" && pwd)

"$B/bench/mine/mine_gen" corpus "$NX" "$D" 1 > "$T/corpus.ctk"
"$B/bench/mine/mine_gen" pairs "$NQ" "$D" 2 > "$T/pairs.ctk"
"$B/bin/ctk-cat" -q -t npy -c emb "$T/corpus.ctk" > "$T/corpus.npy"
"$B/bin/ctk-cat" -q -t npy -c anchor.emb "$T/pairs.ctk" > "$T/queries.npy"

# ctk: the whole program (both corpus readings, the search, the output)
/usr/bin/time -f "%e %M" -o "$T/ctk.time" "$B/bin/ctk-mine-negatives" -q -j "$J" \
    --corpus "$T/corpus.ctk" -n "$K" --range-max "$K" "$T/pairs.ctk" > "$T/mined.ctk"
read -r secs kb < "$T/ctk.time"
echo "ctk-mine-negatives: $NQ queries x $NX corpus, d=$D, top-$K, $J threads: whole $secs s, peak RSS $((kb / 1024)) MB"

/usr/bin/python3 "$HERE/mine_numpy.py" "$T/queries.npy" "$T/corpus.npy" "$K" "$T/numpy.txt"

# the same neighbours? ctk's negatives are corpus texts doc<i>, in rank order
"$B/bin/ctk-cat" -c negative "$T/mined.ctk" | sed 's/^doc//' | paste -d ' ' - $(yes - | head -n "$((K - 1))") > "$T/ctk.txt"
awk 'NR == FNR { a[FNR] = $0; next } { n++; if (a[FNR] == $0) same++ }
     END { printf "same top-%d lists: %d of %d queries\n", k, same, n }' k="$K" "$T/ctk.txt" "$T/numpy.txt"
# where they differ, which list is the exact top-k in float64?
/usr/bin/python3 - "$T" "$K" <<'PY'
import sys
import numpy as np
t, k = sys.argv[1], int(sys.argv[2])
a, b = np.loadtxt(t + "/ctk.txt", dtype=np.int64, ndmin=2), np.loadtxt(t + "/numpy.txt", dtype=np.int64, ndmin=2)
Q, X = np.load(t + "/queries.npy").astype(np.float64), np.load(t + "/corpus.npy").astype(np.float64)
X /= np.linalg.norm(X, axis=1, keepdims=True)
for i in np.nonzero((a != b).any(axis=1))[0]:
    s = X @ (Q[i] / np.linalg.norm(Q[i]))
    exact = np.lexsort((np.arange(len(s)), -s))[:k]
    print("query %d: ctk %s the float64 top-%d, numpy %s; scores at the difference: %s" % (
        i, "is" if (a[i] == exact).all() else "is NOT", k, "is" if (b[i] == exact).all() else "is not",
        " ".join("%.17g" % s[j] for j in sorted(set(a[i]) ^ set(b[i])))))
PY
