#!/usr/bin/env bats
# MPNet folders (model_type "mpnet") in ctk-encode and ctk-train-mnrl, against
# the PyTorch reference tests/ref/mpnet_ref.py (Hugging Face's MPNetModel
# transcribed). Forward figures for every pooling: tests/unit/test_mpnet.
# Here: ctk-encode end to end, one batch's gradients of every parameter
# (the relative attention bias included) for several losses, and 20 steps of
# MNRL with AdamW (dropout off), losses and tensor norms within 1e-4 relative.
#
# The models are made here: ctk-init-model --preset tiny-mpnet|mpnet-base
# --seed 1 with the all-mpnet-base-v2 tokenizer.json; the expected values
# were made by tests/ref/make_mpnet_golden.sh.
load setup

setup_file() {
    export MODELS="$BATS_FILE_TMPDIR"
    SRC="$CTK_SRCDIR"
    gzip -dc "$SRC/tests/data/tok/models/all-mpnet-base-v2/tokenizer.json.gz" > "$MODELS/tokenizer.json"
    ctk-init-model -q --preset tiny-mpnet --seed 1 --vocab "$MODELS/tokenizer.json" -o "$MODELS/tiny"
    cp -r "$MODELS/tiny" "$MODELS/tiny-nd"
    nodropout "$MODELS/tiny-nd"
    ctk-cat -f jsonl -t stream "$SRC/tests/data/train/mpnet-triplets.jsonl" > "$MODELS/data.ctk"
}

nodropout() {
    sed -i 's/"attention_probs_dropout_prob": [0-9.]*/"attention_probs_dropout_prob": 0.0/;
            s/"hidden_dropout_prob": [0-9.]*/"hidden_dropout_prob": 0.0/' "$1/config.json"
    grep -q '"hidden_dropout_prob": 0.0' "$1/config.json"
}

# max |a - b| over two TSV files of numbers (same shape)
maxdiff() {
    paste "$1" "$2" | awk '{ n = NF / 2; for (i = 1; i <= n; i++) { d = $i - $(i + n); if (d < 0) d = -d; if (d > m) m = d } } END { printf "%.3g\n", m + 0 }'
}

# compare GOLDEN LOG MODEL: every step's loss and every tensor's norm within
# 1e-4 relative (or 1e-5 absolute: the attention key biases have a zero
# gradient in exact arithmetic, so AdamW moves them by rounding noise only).
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

@test "ctk-encode: an MPNet folder's sentence embeddings as PyTorch's, in input order" {
    ctk-cat -f jsonl -t stream "$SRC/tests/data/mpnet/ids.jsonl" > "$TMP/ids.ctk"
    for opts in "-j 1" "-j 2 -b 3"; do
        pipeline "ctk-encode $opts -m $MODELS/tiny $TMP/ids.ctk | ctk-cat -c emb > $TMP/got.tsv"
        run maxdiff "$TMP/got.tsv" "$SRC/tests/golden/mpnet/tiny-mpnet-embed.tsv"
        echo "$opts: max abs diff $output"
        awk -v d="$output" 'BEGIN { exit !(d <= 1e-5) }'
    done
    [ "$(wc -l < "$TMP/got.tsv")" -eq 8 ]
    run pipeline "ctk-encode -m $MODELS/tiny $TMP/ids.ctk | ctk-cat --info"
    [[ "$output" == *"normalized: yes"* ]]
    [[ "$output" == *"model: tiny@"* ]]
}

@test "ctk-encode: text through ctk-tok's MPNet tokenizer, --no-normalize, --layer-output" {
    printf 'a\tthe movie was great\nb\tI loved it\n' > "$TMP/in.tsv"
    pipeline "ctk-tok -m $MODELS/tiny $TMP/in.tsv | ctk-encode -m $MODELS/tiny --no-normalize --layer-output > $TMP/out.ctk"
    run ctk-cat --info "$TMP/out.ctk"
    [[ "$output" == *"normalized: no"* ]]
    [ "$(ctk-cat -c label "$TMP/out.ctk")" = "$(printf 'a\nb')" ]
}

@test "ctk-encode: a sequence longer than MPNet's 512 positions is refused" {
    /usr/bin/env awk 'BEGIN { printf "{\"ids\":[0"; for (i = 0; i < 512; i++) printf ",5"; print ",2]}" }' > "$TMP/long.jsonl"
    ctk-cat -f jsonl -t stream "$TMP/long.jsonl" > "$TMP/long.ctk"
    run --separate-stderr ctk-encode -m "$MODELS/tiny" "$TMP/long.ctk"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    output=$stderr
    [[ "$output" == *"514 tokens"* ]]
    [[ "$output" == *"512 positions"* ]]
}

@test "tiny MPNet, one batch of mnrl, cosine, triplet: the loss and every gradient as PyTorch's" {
    for loss in mnrl cosine triplet; do
        run "$CTK_BUILDDIR/tests/unit/train_grads" "$MODELS/tiny-nd" "$MODELS/data.ctk" $loss \
            "$SRC/tests/golden/mpnet/grad-tiny-mpnet-$loss.safetensors"
        echo "$loss: ${lines[0]}; ${lines[-1]}"
        [ "$status" -eq 0 ] || { echo "$output"; return 1; }
        [[ "$output" == *"encoder.relative_attention_bias.weight"* ]]
    done
}

@test "tiny MPNet, 20 steps of MNRL with a hard negative: losses and tensor norms as PyTorch's" {
    ctk-train-mnrl -q -j 1 -m "$MODELS/tiny-nd" -o "$TMP/out" --steps 20 --batch-size 8 --lr 2e-4 \
        --warmup-steps 2 --log "$TMP/log" "$MODELS/data.ctk"
    run compare "$SRC/tests/golden/mpnet/tiny-mpnet-mnrl.tsv" "$TMP/log" "$TMP/out"
    echo "$output"
    [ "$status" -eq 0 ]
    # the trained folder is an MPNet folder with the same names
    cmp "$MODELS/tiny-nd/config.json" "$TMP/out/config.json"
    ctk-cat -f jsonl -t stream "$SRC/tests/data/mpnet/ids.jsonl" > "$TMP/ids.ctk"
    pipeline "ctk-encode -m $TMP/out $TMP/ids.ctk | ctk-cat -c emb > $TMP/e.tsv"
    [ "$(wc -l < "$TMP/e.tsv")" -eq 8 ]
}

# lr 1e-6: at 2e-5 this shape drives the loss of these 8 rows to 1e-4 in a
# few steps, where float32 rounding of the loss alone exceeds 1e-4 relative.
@test "mpnet-base shape: one batch of MNRL (sampled gradient rows) and 20 steps as PyTorch's" {
    ctk-init-model -q --preset mpnet-base --seed 1 --vocab "$MODELS/tokenizer.json" -o "$TMP/base"
    nodropout "$TMP/base"
    run "$CTK_BUILDDIR/tests/unit/train_grads" "$TMP/base" "$MODELS/data.ctk" mnrl \
        "$SRC/tests/golden/mpnet/grad-mpnet-base-mnrl.safetensors"
    echo "${lines[0]}; ${lines[-1]}"
    [ "$status" -eq 0 ] || { echo "$output"; return 1; }
    ctk-train-mnrl -q -m "$TMP/base" -o "$TMP/out" --steps 20 --batch-size 8 --lr 1e-6 \
        --warmup-steps 2 --log "$TMP/log" "$MODELS/data.ctk"
    run compare "$SRC/tests/golden/mpnet/mpnet-base-mnrl.tsv" "$TMP/log" "$TMP/out"
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "MPNet with dropout: kill -9, --resume, the same model.safetensors" {
    args="-j 1 -m $MODELS/tiny --steps 10 --batch-size 3 --lr 1e-3"
    ctk-train-mnrl -q $args -o "$TMP/full" "$MODELS/data.ctk"
    run env CTK_TRAIN_KILL_AFTER=6 ctk-train-mnrl -q $args -o "$TMP/part" \
        --checkpoint-every 4 "$MODELS/data.ctk"
    [ "$status" -eq 137 ]
    ctk-train-mnrl -q $args -o "$TMP/part" --checkpoint-every 4 --resume "$MODELS/data.ctk"
    cmp "$TMP/full/model.safetensors" "$TMP/part/model.safetensors"
}
