#!/usr/bin/env bats
# ctk-train-mnrl on BERT models made by ctk-init-model, against PyTorch:
# the loss of every step of a 20-step run and the norm of every tensor after
# it, within 1e-4 relative, for every loss on the tiny model and for MNRL on
# the minilm-l6 shape; kill -9 and --resume to the same bytes.
#
# The expected values (tests/golden/train/) were made by tests/ref/train_ref.py
# on the same folders, with dropout off (grad-*.safetensors: --grad, one batch;
# minilm-l6 with --rows 2):
#   ctk-init-model --preset tiny --seed 1 -o tiny   (then dropout 0 in config.json)
#   /usr/bin/python3 tests/ref/train_ref.py tiny tests/data/train/bert-triplets.jsonl \
#       tests/golden/train/tiny-LOSS.tsv --loss LOSS --lr 2e-4   (mnrl-symmetric: --symmetric 1)
#   ... --preset minilm-l6 ...  minilm-l6-mnrl.tsv --lr 2e-5
load setup

# model PRESET DIR: a model folder with dropout off (the reference has none).
model() {
    ctk-init-model -q --preset "$1" --seed 1 --vocab "$SRC/share/ctk/bert-base-uncased-vocab.txt" -o "$2"
    sed -i 's/"attention_probs_dropout_prob": [0-9.]*/"attention_probs_dropout_prob": 0.0/;
            s/"hidden_dropout_prob": [0-9.]*/"hidden_dropout_prob": 0.0/' "$2/config.json"
    grep -q '"hidden_dropout_prob": 0.0' "$2/config.json"
}

# compare GOLDEN LOG MODEL: every step's loss and every tensor's norm within
# 1e-4 relative. Norms also pass within 1e-5 absolute: the attention key
# biases have a zero gradient in exact arithmetic (softmax ignores a shift
# shared by all keys), so float rounding is all their gradient holds, and
# AdamW turns that noise into steps of about lr: they move off 0 by ~1e-6
# where float64 PyTorch leaves them at ~1e-16.
compare() {
    paste <(grep '^loss' "$1") <(tail -n +2 "$2") | awk -F'\t' '
        { d = $3 - $6; if (d < 0) d = -d; r = d / ($3 > 1e-12 ? $3 : 1e-12); if (r > m) m = r
          if (r > 1e-4 && d > 1e-9) { print "step " $2 ": torch " $3 ", ctk " $6; bad = 1 } }
        END { printf "loss: max rel err %.2e\n", m; exit bad }'
    "$CTK_BUILDDIR/tests/unit/st_norms" "$3/model.safetensors" > "$TMP/norms"
    awk -F'\t' 'NR == FNR { n[$1] = $2; next }
        $1 == "norm" { if (!($2 in n)) { print "no tensor " $2; bad = 1; next }
                       d = n[$2] - $3; if (d < 0) d = -d; r = d / $3; if ($3 > 1e-3 && r > m) m = r; k++
                       if (r > 1e-4 && d > 1e-5) { print $2 ": torch " $3 ", ctk " n[$2]; bad = 1 } }
        END { printf "norms of %d tensors: max rel err %.2e (of norms above 1e-3)\n", k, m; exit bad || k == 0 }' \
        "$TMP/norms" "$1"
}


@test "tiny BERT, one batch of every loss: the loss and every parameter's gradient as PyTorch's" {
    model tiny "$TMP/tiny"
    ctk-cat -f jsonl -t stream "$DATA/train/bert-triplets.jsonl" > "$TMP/data.ctk"
    for loss in mnrl cosine contrastive online-contrastive triplet simcse; do
        run "$CTK_BUILDDIR/tests/unit/train_grads" "$TMP/tiny" "$TMP/data.ctk" $loss \
            "$SRC/tests/golden/train/grad-tiny-$loss.safetensors"
        echo "$loss: ${lines[0]}; ${lines[-1]}"
        [ "$status" -eq 0 ] || { echo "$output"; return 1; }
    done
}

@test "minilm-l6 shape, one batch of MNRL: the loss and sampled rows of every gradient" {
    model minilm-l6 "$TMP/minilm"
    ctk-cat -f jsonl -t stream "$DATA/train/bert-triplets.jsonl" > "$TMP/data.ctk"
    run "$CTK_BUILDDIR/tests/unit/train_grads" "$TMP/minilm" "$TMP/data.ctk" mnrl \
        "$SRC/tests/golden/train/grad-minilm-l6-mnrl.safetensors"
    echo "${lines[0]}; ${lines[-1]}"
    [ "$status" -eq 0 ] || { echo "$output"; return 1; }
}

@test "tiny BERT, 20 steps of every loss: losses and tensor norms as PyTorch's" {
    model tiny "$TMP/tiny"
    ctk-cat -f jsonl -t stream "$DATA/train/bert-triplets.jsonl" > "$TMP/data.ctk"
    for case in mnrl mnrl-symmetric cosine contrastive online-contrastive triplet simcse; do
        args="--loss ${case%-symmetric}"
        [ "$case" != mnrl-symmetric ] || args="$args --symmetric"
        ctk-train-mnrl -q -j 1 -m "$TMP/tiny" -o "$TMP/out" $args --steps 20 \
            --batch-size 8 --lr 2e-4 --warmup-steps 2 --log "$TMP/log" "$TMP/data.ctk"
        run compare "$SRC/tests/golden/train/tiny-$case.tsv" "$TMP/log" "$TMP/out"
        echo "$case: $output"
        [ "$status" -eq 0 ]
    done
}

@test "tiny BERT, GradCache (--cache-batch 5): the same 20 steps as PyTorch's whole batch" {
    model tiny "$TMP/tiny"
    ctk-cat -f jsonl -t stream "$DATA/train/bert-triplets.jsonl" > "$TMP/data.ctk"
    ctk-train-mnrl -q -j 1 -m "$TMP/tiny" -o "$TMP/out" --steps 20 --batch-size 8 --lr 2e-4 \
        --warmup-steps 2 --cache-batch 5 --log "$TMP/log" "$TMP/data.ctk"
    run compare "$SRC/tests/golden/train/tiny-mnrl.tsv" "$TMP/log" "$TMP/out"
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "minilm-l6 shape, 20 steps of MNRL with a hard negative: as PyTorch" {
    model minilm-l6 "$TMP/minilm"
    ctk-cat -f jsonl -t stream "$DATA/train/bert-triplets.jsonl" > "$TMP/data.ctk"
    ctk-train-mnrl -q -m "$TMP/minilm" -o "$TMP/out" --steps 20 --batch-size 8 --lr 2e-5 \
        --warmup-steps 2 --log "$TMP/log" "$TMP/data.ctk"
    run compare "$SRC/tests/golden/train/minilm-l6-mnrl.tsv" "$TMP/log" "$TMP/out"
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "BERT with dropout: kill -9, --resume, the same model.safetensors" {
    ctk-init-model -q --preset tiny --seed 1 --vocab "$SRC/share/ctk/bert-base-uncased-vocab.txt" -o "$TMP/tiny"
    ctk-cat -f jsonl -t stream "$DATA/train/bert-triplets.jsonl" > "$TMP/data.ctk"
    args="-j 1 -m $TMP/tiny --steps 10 --batch-size 3 --lr 1e-3 --cache-batch 4"
    ctk-train-mnrl -q $args -o "$TMP/full" "$TMP/data.ctk"
    run env CTK_TRAIN_KILL_AFTER=6 ctk-train-mnrl -q $args -o "$TMP/part" \
        --checkpoint-every 4 "$TMP/data.ctk"
    [ "$status" -eq 137 ]
    [ "$(cat "$TMP/part.ckpt/latest")" = "step-4" ]
    ctk-train-mnrl -q $args -o "$TMP/part" --checkpoint-every 4 --resume "$TMP/data.ctk"
    cmp "$TMP/full/model.safetensors" "$TMP/part/model.safetensors"
    [ "$(ls "$TMP/part.ckpt")" = "$(printf 'latest\nstep-8')" ]
    # and the fine-tuned folder is a model folder like the one it came from
    cmp "$TMP/tiny/config.json" "$TMP/part/config.json"
    [ -f "$TMP/part/vocab.txt" ] && [ -f "$TMP/part/modules.json" ]
}
