#!/bin/sh
# bench/train/run.sh -- ctk-train-mnrl against PyTorch, side by side, on the
# same weights: the minilm-l6 shape (ctk-init-model --preset minilm-l6
# --seed 1; PRESET=mpnet-base for all-mpnet-base-v2's shape), MNRL,
# batches of 16, 32 and 64 (anchor, positive) pairs of 32 tokens, AdamW,
# 2 threads, OpenBLAS on its SkylakeX kernels for both.
# Run from a build tree: sh SRC/bench/train/run.sh [STEPS] [BATCHES]
# Prints a table: batch, pairs/s and peak RSS of each, the ratio, and the
# share of the sgemm rate (sgemm_rate.c) ctk's steps reach.
set -eu
STEPS=${1:-5}
BATCHES=${2:-"16 32 64"}
T=32
THREADS=2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
export OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=$THREADS
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
PATH=$PWD/bin:$PATH
PRESET=${PRESET:-minilm-l6}
case $PRESET in
mpnet-base)
    gzip -dc "$SRC/tests/data/tok/models/all-mpnet-base-v2/tokenizer.json.gz" > "$W/tokenizer.json"
    ctk-init-model -q --preset mpnet-base --seed 1 --vocab "$W/tokenizer.json" -o "$W/model"
    C=768 L=12 I=3072 BOS=0 EOS=2 ;;
*)
    ctk-init-model -q --preset "$PRESET" --seed 1 --vocab "$SRC/share/ctk/bert-base-uncased-vocab.txt" -o "$W/model"
    C=384 L=6 I=1536 BOS=101 EOS=102 ;;
esac
cc -O2 "$SRC/bench/train/sgemm_rate.c" $(pkg-config --cflags --libs openblas) -o "$W/sgemm_rate"
PEAK=$("$W/sgemm_rate" $THREADS)
# training FLOPs of one pair: 2 sequences x T tokens x 3 x (2 x weights of the
# layers + attention's 4 T C per layer), the embeddings' gathers aside
FLOP=$(awk -v T=$T -v C=$C -v L=$L -v I=$I 'BEGIN {
    fwd = L * (2 * (4 * C * C + 2 * C * I) + 4 * T * C); print 2 * T * 3 * fwd }')
printf 'batch\tctk_pairs_s\tctk_rss_mb\ttorch_pairs_s\ttorch_rss_mb\tspeedup\tctk_sgemm_share\n'
for B in $BATCHES; do
    N=$((B * (STEPS + 1)))
    awk -v N=$N -v T=$T -v BOS=$BOS -v EOS=$EOS 'BEGIN { srand(1); for (i = 0; i < N; i++) { printf "{";
        for (r = 0; r < 2; r++) { printf "%s\"%s.ids\":[%d", r ? "," : "", r ? "positive" : "anchor", BOS;
            for (j = 0; j < T - 2; j++) printf ",%d", 1000 + int(rand() * 29000); printf ",%d]", EOS }
        printf "}\n" } }' > "$W/pairs.jsonl"
    ctk-cat -f jsonl -t stream "$W/pairs.jsonl" > "$W/pairs.ctk"
    /usr/bin/time -f '%M' -o "$W/rss" ctk-train-mnrl -q -j $THREADS -m "$W/model" -o "$W/out" \
        --batch-size $B --steps $((STEPS + 1)) --log "$W/log" "$W/pairs.ctk"
    # pairs/s over the timed steps (the first is the warm-up)
    CTK=$(awk -F'\t' -v B=$B 'NR > 2 { t += B / $6; n += B } END { printf "%.2f", n / t }' "$W/log")
    CRSS=$(awk '{ printf "%.0f", $1 / 1024 }' "$W/rss")
    set -- $(/usr/bin/python3 "$SRC/bench/train/torch_peer.py" "$W/model" $B $THREADS $STEPS $T)
    printf '%s\t%s\t%s\t%s\t%.0f\t%.2f\t%.2f\n' $B $CTK $CRSS $1 $2 \
        $(awk -v a=$CTK -v b=$1 'BEGIN { print a / b }') \
        $(awk -v c=$CTK -v f=$FLOP -v p=$PEAK 'BEGIN { print c * f / 1e9 / p }')
done
echo "sgemm peak ($THREADS threads): $PEAK GFLOP/s; training FLOPs per pair: $FLOP"
