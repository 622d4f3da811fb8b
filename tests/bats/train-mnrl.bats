#!/usr/bin/env bats
# ctk-train-mnrl: every loss end to end on the built-in n-gram encoder,
# GradCache against the plain batch, kill -9 and --resume against an
# uninterrupted run, the log, and bad invocations.
load setup

# pairs.ctk: 64 rows of anchor/positive/negative token ids, score and label
# (tests/data/train/pairs.jsonl), made a stream by ctk-cat.
make_pairs() {
    ctk-cat -f jsonl -t stream "$DATA/train/pairs.jsonl" > "$TMP/pairs.ctk"
}

# nodrop: the built-in encoder saved as a folder with feature dropout off, so
# that two runs differing only in how the batch is cut give the same gradients.
make_nodrop() {
    ctk-train-mnrl -q -o "$TMP/nodrop" --steps 1 --lr 0 "$TMP/pairs.ctk"
    sed -i 's/"feature_dropout": [0-9.e-]*/"feature_dropout": 0/' "$TMP/nodrop/config.json"
    grep -q '"feature_dropout": 0' "$TMP/nodrop/config.json"
}

@test "ctk-train-mnrl --help lists every option" {
    run --separate-stderr ctk-train-mnrl --help
    [ "$status" -eq 0 ]
    for o in --model --output --loss --scale --margin --distance --symmetric \
             --projection-head --batch-size --epochs --steps --lr --warmup-ratio \
             --warmup-steps --weight-decay --max-grad-norm --seed --cache-batch \
             --checkpoint-every --checkpoint-dir --resume --log --threads --quiet; do
        [[ "$output" == *"$o"* ]] || { echo "missing $o"; return 1; }
    done
}

@test "ctk-train-mnrl --version" {
    run ctk-train-mnrl --version
    [ "$status" -eq 0 ]
    [[ "$output" == ctk-train-mnrl* ]]
}

@test "mnrl with labels and hard negatives: a model folder, a log, a falling loss" {
    make_pairs
    run --separate-stderr ctk-train-mnrl -o "$TMP/m" --steps 24 --batch-size 8 --lr 1e-2 \
        --log "$TMP/log.tsv" "$TMP/pairs.ctk"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [ -f "$TMP/m/config.json" ] && [ -f "$TMP/m/model.safetensors" ] && [ -f "$TMP/m/modules.json" ]
    grep -q '"model_type": "ctk-ngram"' "$TMP/m/config.json"
    [ "$(head -1 "$TMP/log.tsv")" = "$(printf 'step\tepoch\tloss\tlr\tgrad_norm\texamples_per_s')" ]
    [ "$(wc -l < "$TMP/log.tsv")" -eq 25 ]
    # mean loss of the first 4 steps well above that of the last 4
    awk -F'\t' 'NR>1 && NR<=5 {a+=$3} NR>21 {b+=$3} END {exit !(b < 0.5*a)}' "$TMP/log.tsv"
    # linear warm-up (10% of 24 steps = 3): lr 0 at the first step, peak at the fourth
    awk -F'\t' 'NR==2 && $4 != 0 {exit 1} NR==5 && $4 != 0.01 {exit 1}' "$TMP/log.tsv"
}

@test "every loss trains from stdin and writes a model" {
    make_pairs
    for args in "--loss cosine" "--loss contrastive" "--loss contrastive --distance euclidean --margin 2" \
                "--loss online-contrastive" "--loss triplet" "--loss triplet --distance cosine --margin 0.5" \
                "--loss simcse" "--loss mnrl --symmetric --scale 10" "--loss mnrl --projection-head"; do
        rm -rf "$TMP/m"
        run --separate-stderr ctk-train-mnrl -q -o "$TMP/m" --steps 6 --batch-size 8 --lr 1e-2 \
            --log "$TMP/log.tsv" $args < "$TMP/pairs.ctk"
        [ "$status" -eq 0 ] || { echo "$args: $stderr"; return 1; }
        [ -f "$TMP/m/model.safetensors" ] || { echo "$args: no model"; return 1; }
        [ "$(wc -l < "$TMP/log.tsv")" -eq 7 ]
        awk -F'\t' 'NR>1 && !($3 >= 0) {exit 1}' "$TMP/log.tsv" || { echo "$args: bad loss"; return 1; }
    done
}

@test "GradCache (--cache-batch) follows the same loss curve as the whole batch" {
    make_pairs
    make_nodrop
    ctk-train-mnrl -q -m "$TMP/nodrop" -o "$TMP/a" --steps 8 --batch-size 8 --lr 1e-2 \
        --log "$TMP/a.tsv" "$TMP/pairs.ctk"
    for m in 5 3; do
        ctk-train-mnrl -q -m "$TMP/nodrop" -o "$TMP/b" --steps 8 --batch-size 8 --lr 1e-2 \
            --cache-batch $m --log "$TMP/b.tsv" "$TMP/pairs.ctk"
        paste "$TMP/a.tsv" "$TMP/b.tsv" | awk -F'\t' 'NR>1 {
            d = $3 - $9; if (d < 0) d = -d; if (d > 1e-5 * (1 + $3)) { print "step " $1 ": " $3 " vs " $9; bad = 1 } }
            END { exit bad }'
    done
}

@test "kill -9 during training, then --resume: bit-identical weights" {
    make_pairs
    args="--steps 14 --batch-size 8 --lr 1e-2 --projection-head --seed 7"
    ctk-train-mnrl -q -o "$TMP/full" $args "$TMP/pairs.ctk"
    run env CTK_TRAIN_KILL_AFTER=8 ctk-train-mnrl -q -o "$TMP/part" $args \
        --checkpoint-every 3 --log "$TMP/part.tsv" "$TMP/pairs.ctk"
    [ "$status" -eq 137 ]
    [ ! -e "$TMP/part" ]
    [ "$(cat "$TMP/part.ckpt/latest")" = "step-6" ]
    [ -f "$TMP/part.ckpt/step-6/state.safetensors" ]
    ctk-train-mnrl -q -o "$TMP/part" $args --checkpoint-every 3 --resume \
        --log "$TMP/part.tsv" "$TMP/pairs.ctk"
    cmp "$TMP/full/model.safetensors" "$TMP/part/model.safetensors"
    # the log reads as one run: steps 1..14 once each
    [ "$(cut -f1 "$TMP/part.tsv" | tail -n +2 | tr '\n' ' ')" = "1 2 3 4 5 6 7 8 9 10 11 12 13 14 " ]
}

@test "--resume refuses a checkpoint made with other options" {
    make_pairs
    run env CTK_TRAIN_KILL_AFTER=4 ctk-train-mnrl -q -o "$TMP/p" --steps 8 --batch-size 8 \
        --checkpoint-every 2 "$TMP/pairs.ctk"
    [ "$status" -eq 137 ]
    run --separate-stderr ctk-train-mnrl -q -o "$TMP/p" --steps 8 --batch-size 4 \
        --checkpoint-every 2 --resume "$TMP/pairs.ctk"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"ctk-train-mnrl: "*"other data or other options"* ]]
    [ ! -e "$TMP/p" ]
}

@test "--resume without a checkpoint starts from the beginning" {
    make_pairs
    ctk-train-mnrl -q -o "$TMP/a" --steps 4 --batch-size 8 "$TMP/pairs.ctk"
    run --separate-stderr ctk-train-mnrl -o "$TMP/b" --steps 4 --batch-size 8 --resume "$TMP/pairs.ctk"
    [ "$status" -eq 0 ]
    [[ "$stderr" == *"no checkpoint in"* ]]
    cmp "$TMP/a/model.safetensors" "$TMP/b/model.safetensors"
}

@test "the seed decides: same seed same weights, another seed other weights; -o replaces" {
    make_pairs
    ctk-train-mnrl -q -o "$TMP/a" --steps 5 --batch-size 8 --lr 1e-2 --seed 3 "$TMP/pairs.ctk"
    ctk-train-mnrl -q -o "$TMP/b" --steps 5 --batch-size 8 --lr 1e-2 --seed 3 "$TMP/pairs.ctk"
    cmp "$TMP/a/model.safetensors" "$TMP/b/model.safetensors"
    ctk-train-mnrl -q -o "$TMP/b" --steps 5 --batch-size 8 --lr 1e-2 --seed 4 "$TMP/pairs.ctk"
    ! cmp -s "$TMP/a/model.safetensors" "$TMP/b/model.safetensors"
    [ "$(ls -d "$TMP"/b* | wc -l)" -eq 1 ]
}

@test "usage errors exit 2 with nothing on stdout" {
    make_pairs
    run --separate-stderr ctk-train-mnrl "$TMP/pairs.ctk"
    expect_usage_error
    [[ "$stderr" == *"-o OUTDIR is required"* ]]
    run --separate-stderr ctk-train-mnrl -o "$TMP/m" --loss nce "$TMP/pairs.ctk"
    expect_usage_error
    [[ "$stderr" == *"unknown loss 'nce'"* ]]
    run --separate-stderr ctk-train-mnrl -o "$TMP/m" --margin 1 "$TMP/pairs.ctk"
    expect_usage_error
    run --separate-stderr ctk-train-mnrl -o "$TMP/m" --loss cosine --symmetric "$TMP/pairs.ctk"
    expect_usage_error
    run --separate-stderr ctk-train-mnrl -o "$TMP/m" --batch-size 0 "$TMP/pairs.ctk"
    expect_usage_error
    run --separate-stderr ctk-train-mnrl -o "$TMP/m" --distance manhattan "$TMP/pairs.ctk"
    expect_usage_error
    [ ! -e "$TMP/m" ]
}

@test "data errors exit 1 naming what is missing, and write no model" {
    printf '{"anchor.ids":[1,2],"other.ids":[3]}\n' | ctk-cat -f jsonl -t stream > "$TMP/bad.ctk"
    run --separate-stderr ctk-train-mnrl -o "$TMP/m" "$TMP/bad.ctk"
    [ "$status" -eq 1 ]
    [[ "$stderr" == "ctk-train-mnrl: --loss mnrl needs token columns anchor.ids and positive.ids"* ]]
    [[ "$stderr" == *"other.ids"* ]]
    make_pairs
    ctk-cat -c anchor.ids,positive.ids -t stream "$TMP/pairs.ctk" > "$TMP/noscore.ctk"
    run --separate-stderr ctk-train-mnrl -o "$TMP/m" --loss cosine "$TMP/noscore.ctk"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"needs a 'score' column"* ]]
    run --separate-stderr ctk-train-mnrl -o "$TMP/m" --loss triplet "$TMP/noscore.ctk"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"negative.ids"* ]]
    printf 'not a stream\n' > "$TMP/text"
    run --separate-stderr ctk-train-mnrl -o "$TMP/m" "$TMP/text"
    [ "$status" -eq 1 ]
    head -c 100 "$TMP/pairs.ctk" > "$TMP/trunc.ctk"
    run --separate-stderr ctk-train-mnrl -o "$TMP/m" "$TMP/trunc.ctk"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ ! -e "$TMP/m" ]
}

@test "pipeline: ctk-mkpairs | ctk-tok | ctk-train-mnrl, then ctk-encode loads the model" {
    pb="$SRC/share/examples/plan-build/train.tsv"
    pipeline "ctk-mkpairs -q -f mnrl '$pb' | ctk-tok | ctk-train-mnrl -q -o '$TMP/m' --lr 1e-2 --batch-size 16"
    pipeline "ctk-tok -m '$TMP/m' '$pb' | ctk-encode -m '$TMP/m' | ctk-cat -c emb > '$TMP/tuned.tsv'"
    pipeline "ctk-tok '$pb' | ctk-encode | ctk-cat -c emb > '$TMP/base.tsv'"
    [ "$(wc -l < "$TMP/tuned.tsv")" -eq 40 ]
    [ "$(head -1 "$TMP/tuned.tsv" | wc -w)" -eq 256 ]
    ! cmp -s "$TMP/tuned.tsv" "$TMP/base.tsv"
}
