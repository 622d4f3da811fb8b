#!/bin/sh
# bench/mine/effect.sh -- does training with mined hard negatives and a
# curriculum help? The SetFit experiment of share/examples/Makefile twice,
# with the built-in n-gram encoder:
#
#   in-batch   ctk-mkpairs -f mnrl | ctk-tok | ctk-train-mnrl: MNRL with the
#              in-batch negatives alone (other-label positives of the batch)
#   mined      the same pairs, each given one hard negative by
#              ctk-mine-negatives (MINE_OPTS, default: the untrained
#              encoder's nearest text of another label; the labels are what
#              keeps false negatives out), in two curriculum stages
#              (--stages 2): train on the easier half, then
#              continue from that model on the harder half -- the same
#              number of rows and steps as in-batch
#   flat       the mined rows in one run, no curriculum (the ablation)
#
# The mined rows keep negative.label, so that ctk-train-mnrl masks, for each
# anchor, the other rows' negatives of its label; MASK=0 drops the column
# (every hard negative a negative of every anchor: the behaviour before).
#
# then for both: encode train and test with the fine-tuned model, fit the
# head (ctk-fit-head), label the test set (ctk-predict): accuracy; and
# ctk-diag's figures of the test embeddings.
#
#   bench/mine/effect.sh BUILDDIR TRAIN.tsv TEST.tsv OUTDIR [SEED...]
set -eu
B=${1:?usage: effect.sh BUILDDIR TRAIN.tsv TEST.tsv OUTDIR [SEED...]}
TRAIN=$2 TEST=$3 OUT=$4
shift 4
SEEDS=${*:-42}
PATH="$B/bin:$PATH"
export OPENBLAS_CORETYPE=SkylakeX
ITER=${ITER:-20} BATCH=${BATCH:-16} LR=${LR:-1e-2} J=${J:-2} MINE_OPTS=${MINE_OPTS:--n 1} MASK=${MASK:-1}
if [ "$MASK" = 1 ]; then COLS=anchor,positive,negative,negative.label,label; else COLS=anchor,positive,negative,label; fi
mkdir -p "$OUT"

acc() { # acc TEST PRED: share of test lines whose label the prediction names
    awk -F '\t' 'NR == FNR { gold[FNR] = $1; next } { n++; c += ($2 == gold[$1]) } END { printf "%.4f", c / n }' "$1" "$2"
}
evaluate() { # evaluate NAME MODEL
    ctk-tok -q -m "$2" "$TRAIN" | ctk-encode -q -m "$2" > "$OUT/$1.train.emb"
    ctk-tok -q -m "$2" "$TEST" | ctk-encode -q -m "$2" > "$OUT/$1.test.emb"
    ctk-fit-head -q -o "$OUT/$1.head" "$OUT/$1.train.emb"
    ctk-predict -q -H "$OUT/$1.head" "$OUT/$1.test.emb" > "$OUT/$1.pred"
    acc "$TEST" "$OUT/$1.pred"
}

# the corpus negatives come from: the training texts, embedded by the untrained encoder
ctk-tok -q --keep-text "$TRAIN" | ctk-encode -q > "$OUT/corpus.ctk"
for S in $SEEDS; do
    P="$OUT/s$S"
    ctk-mkpairs -q -f mnrl -n "$ITER" --seed "$S" "$TRAIN" > "$P.pairs.ctk"
    # in-batch negatives alone
    ctk-tok -q "$P.pairs.ctk" > "$P.pairs.tok"
    ctk-train-mnrl -q --batch-size "$BATCH" --lr "$LR" --seed "$S" -j "$J" -o "$P.inbatch.model" "$P.pairs.tok"
    a1=$(evaluate "s$S.inbatch" "$P.inbatch.model")
    # mined hard negatives, curriculum in two stages
    ctk-tok -q --keep-text "$P.pairs.ctk" | ctk-encode -q > "$P.pairs.emb"
    ctk-mine-negatives --corpus "$OUT/corpus.ctk" $MINE_OPTS --stages 2 "$P.pairs.emb" \
        > "$P.mined.ctk" 2> "$P.mine.log"
    for st in 1 2; do
        ctk-cat --header -c "$COLS,stage" "$P.mined.ctk" |
            awk -F '\t' 'BEGIN { OFS = "\t" } NR == 1 || $NF == '$st' { NF--; print }' |
            ctk-tok -q --header > "$P.stage$st.tok"
    done
    ctk-train-mnrl -q --batch-size "$BATCH" --lr "$LR" --seed "$S" -j "$J" -o "$P.stage1.model" "$P.stage1.tok"
    ctk-train-mnrl -q -m "$P.stage1.model" --batch-size "$BATCH" --lr "$LR" --seed "$S" -j "$J" \
        -o "$P.mined.model" "$P.stage2.tok"
    a2=$(evaluate "s$S.mined" "$P.mined.model")
    ctk-cat -c "$COLS" "$P.mined.ctk" | ctk-tok -q --names "$COLS" > "$P.flat.tok"
    ctk-train-mnrl -q --batch-size "$BATCH" --lr "$LR" --seed "$S" -j "$J" -o "$P.flat.model" "$P.flat.tok"
    a3=$(evaluate "s$S.flat" "$P.flat.model")
    echo "seed $S: accuracy in-batch $a1, mined+curriculum $a2, mined flat $a3 ($(ctk-cat --info "$P.pairs.tok" | sed -n 's/^rows: //p') pairs, $(ctk-cat --info "$P.mined.ctk" | sed -n 's/^rows: //p') mined rows)"
    for v in inbatch mined flat; do
        ctk-diag -q "$OUT/s$S.$v.test.emb" > "$P.$v.diag.txt" || true
        printf '  %-8s' "$v"
        awk '/^mean cosine between classes/ { printf " between-class cos %s", $NF }
             /^alignment of same-class pairs/ { printf ", same-class alignment %s", $NF }
             /^silhouette/ { printf ", silhouette %s", $NF }
             /^leave-one-out k-NN accuracy/ { printf ", k-NN acc %s", $NF }
             /^mean cosine of random pairs/ { printf ", anisotropy %s", $NF }' "$P.$v.diag.txt"
        echo
    done
done
