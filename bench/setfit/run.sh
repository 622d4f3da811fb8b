#!/bin/bash
# bench/setfit/run.sh -- few-shot text classification: SetFit with ctk's
# built-in n-gram encoder against (a) the same head on the untrained
# encoder, (b) fastText supervised and (c) TF-IDF + logistic regression,
# on the same sampled examples (issue 6, "Done when").
#
#   bench/setfit/run.sh [-b BUILD/bin] [-d DATA] [-o OUT] [-k "8 16"] [-s "1 2 3 4 5"]
#                       [-t "sst2 cr emotion agnews"]
#
# For each data set, K examples per class and seed: sample.py draws the
# examples from DATA/SET/train.tsv (their line numbers are written to
# OUT/samples/SET-K-SEED.lines; bench/setfit/samples/ keeps those of the
# recorded run), then every method trains on them and is scored on
# DATA/SET/test.tsv. Results: OUT/results.tsv (set, k, seed, method,
# accuracy) and OUT/summary.md (mean and standard deviation over seeds).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BIN=""
DATA=${DATA:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/data}
OUT=/tmp/ctk-bench-setfit
SHOTS="8 16"
SEEDS="1 2 3 4 5"
SETS="sst2 cr emotion agnews"
# SetFit's defaults (20 pairs per example, batch 16, one epoch); the
# n-gram encoder's learning rate (see share/examples/Makefile).
ITERATIONS=20
BATCH=16
LR=1e-2
PY=/usr/bin/python3
FASTTEXT=${FASTTEXT:-fasttext}

while getopts "b:d:o:k:s:t:" opt; do
    case $opt in
    b) BIN="$OPTARG/" ;;
    d) DATA=$OPTARG ;;
    o) OUT=$OPTARG ;;
    k) SHOTS=$OPTARG ;;
    s) SEEDS=$OPTARG ;;
    t) SETS=$OPTARG ;;
    *) echo "usage: $0 [-b BIN] [-d DATA] [-o OUT] [-k SHOTS] [-s SEEDS] [-t SETS]" >&2; exit 2 ;;
    esac
done
command -v "$FASTTEXT" >/dev/null || { echo "$0: fasttext not found (apt-get install fasttext)" >&2; exit 1; }
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}

mkdir -p "$OUT/samples" "$OUT/runs"
RES="$OUT/results.tsv"
printf 'set\tk\tseed\tmethod\taccuracy\n' > "$RES"

# accuracy GOLD.tsv PRED.tsv: ctk-predict rows are keyed by the test line number
accuracy() {
    awk -F'\t' 'NR == FNR { gold[FNR] = $1; next } { n++; c += ($2 == gold[$1]) }
                END { printf "%.4f\n", c / n }' "$1" "$2"
}

# head_accuracy TRAIN.emb TEST.emb GOLD.tsv WORK: the logistic-regression head
head_accuracy() {
    "${BIN}ctk-fit-head" -q -o "$4/head" "$1"
    "${BIN}ctk-predict" -q -H "$4/head" "$2" > "$4/pred.tsv"
    accuracy "$3" "$4/pred.tsv"
}

for set in $SETS; do
    test_tsv="$DATA/$set/test.tsv"
    # the untrained encoder's test embeddings do not depend on the sample
    w0="$OUT/runs/$set"
    mkdir -p "$w0"
    "${BIN}ctk-tok" -q "$test_tsv" | "${BIN}ctk-encode" -q > "$w0/test-untrained.emb"
    for k in $SHOTS; do
        for seed in $SEEDS; do
            w="$OUT/runs/$set-$k-$seed"
            mkdir -p "$w"
            tr="$w/train.tsv"
            $PY "$HERE/sample.py" "$DATA/$set/train.tsv" "$k" "$seed" "$tr"
            cp "$tr.lines" "$OUT/samples/$set-$k-$seed.lines"
            t0=$(date +%s.%N)

            # SetFit: pairs, contrastive fine-tuning, head on the fine-tuned encoder
            "${BIN}ctk-mkpairs" -q -f mnrl -n $ITERATIONS --seed "$seed" "$tr" |
                "${BIN}ctk-tok" -q > "$w/pairs.tok"
            "${BIN}ctk-train-mnrl" -q --loss mnrl --batch-size $BATCH --lr $LR --seed "$seed" \
                -o "$w/model" "$w/pairs.tok"
            "${BIN}ctk-tok" -q -m "$w/model" "$tr" | "${BIN}ctk-encode" -q -m "$w/model" > "$w/train.emb"
            "${BIN}ctk-tok" -q -m "$w/model" "$test_tsv" | "${BIN}ctk-encode" -q -m "$w/model" > "$w/test.emb"
            a_setfit=$(head_accuracy "$w/train.emb" "$w/test.emb" "$test_tsv" "$w")
            t1=$(date +%s.%N)

            # (a) the same head on the untrained built-in encoder
            "${BIN}ctk-tok" -q "$tr" | "${BIN}ctk-encode" -q > "$w/train-untrained.emb"
            a_untrained=$(head_accuracy "$w/train-untrained.emb" "$w0/test-untrained.emb" "$test_tsv" "$w")

            # (b) fastText supervised (one thread: reproducible); few-shot
            # settings: more epochs and a higher rate than the defaults,
            # word bigrams and character 3-5-grams hashed into 2^18 buckets, like
            # the n-gram encoder
            awk -F'\t' '{ print "__label__" $1 " " $2 }' "$tr" > "$w/ft-train.txt"
            "$FASTTEXT" supervised -input "$w/ft-train.txt" -output "$w/ft" -epoch 50 -lr 0.5 \
                -wordNgrams 2 -minn 3 -maxn 5 -bucket 262144 -dim 100 -thread 1 -seed "$seed" -verbose 0
            cut -f2- "$test_tsv" | "$FASTTEXT" predict "$w/ft.bin" - |
                sed 's/^__label__//' | awk '{ print NR "\t" $0 }' > "$w/ft-pred.tsv"
            a_fasttext=$(accuracy "$test_tsv" "$w/ft-pred.tsv")
            # and with fastText's own defaults (5 epochs, rate 0.1, words only)
            "$FASTTEXT" supervised -input "$w/ft-train.txt" -output "$w/ftd" -thread 1 \
                -seed "$seed" -verbose 0
            cut -f2- "$test_tsv" | "$FASTTEXT" predict "$w/ftd.bin" - |
                sed 's/^__label__//' | awk '{ print NR "\t" $0 }' > "$w/ftd-pred.tsv"
            a_fasttext_default=$(accuracy "$test_tsv" "$w/ftd-pred.tsv")

            # (c) TF-IDF + logistic regression
            a_tfidf=$($PY "$HERE/tfidf.py" "$tr" "$test_tsv")

            printf '%s\t%s\t%s\tsetfit-ngram\t%s\n' "$set" "$k" "$seed" "$a_setfit" >> "$RES"
            printf '%s\t%s\t%s\tuntrained-ngram\t%s\n' "$set" "$k" "$seed" "$a_untrained" >> "$RES"
            printf '%s\t%s\t%s\tfasttext\t%s\n' "$set" "$k" "$seed" "$a_fasttext" >> "$RES"
            printf '%s\t%s\t%s\tfasttext-defaults\t%s\n' "$set" "$k" "$seed" "$a_fasttext_default" >> "$RES"
            printf '%s\t%s\t%s\ttfidf-logreg\t%s\n' "$set" "$k" "$seed" "$a_tfidf" >> "$RES"
            printf '%s k=%s seed=%s: setfit %s untrained %s fasttext %s tfidf %s (setfit %.1f s)\n' \
                "$set" "$k" "$seed" "$a_setfit" "$a_untrained" "$a_fasttext" "$a_tfidf" \
                "$(echo "$t1 - $t0" | bc)" >&2
            rm -rf "$w/model" "$w"/*.emb "$w/pairs.tok" "$w/ft.bin" "$w/ftd.bin"
        done
    done
done

# mean (standard deviation) over seeds, and the average over the sets
$PY - "$RES" > "$OUT/summary.md" <<'PYEOF'
import collections, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
acc = collections.defaultdict(list)
for s, k, seed, m, a in rows:
    acc[(s, int(k), m)].append(float(a))
methods = ["setfit-ngram", "untrained-ngram", "fasttext", "fasttext-defaults", "tfidf-logreg"]
sets = list(dict.fromkeys(r[0] for r in rows))
shots = sorted({int(r[1]) for r in rows})
print("| set | k | " + " | ".join(methods) + " |")
print("|---|---|" + "---|" * len(methods))
for k in shots:
    for s in sets:
        cells = []
        for m in methods:
            v = acc.get((s, k, m), [])
            cells.append("%.3f (%.3f)" % (statistics.mean(v), statistics.pstdev(v)) if v else "-")
        print("| %s | %d | %s |" % (s, k, " | ".join(cells)))
    avg = [statistics.mean(statistics.mean(acc[(s, k, m)]) for s in sets if acc.get((s, k, m)))
           for m in methods]
    print("| **average** | %d | %s |" % (k, " | ".join("%.3f" % a for a in avg)))
PYEOF
cat "$OUT/summary.md"
