#!/usr/bin/env bats
# ctk-fit-head: coefficients and probabilities equal scikit-learn's
# LogisticRegression(solver='lbfgs', multi_class='multinomial') on the
# fixtures of tests/ref/logreg_ref.py; the head file; bad inputs.
load setup

G() { echo "$SRC/tests/golden/logreg"; }
EMB() { echo "$CTK_BUILDDIR/tests/unit/emb_tool"; }

# emb CASE [emb_tool options]: the fixture's rows as an embedding stream
emb() {
    local c=$1
    shift
    "$(EMB)" tsv "$@" < "$(G)/$c.tsv"
}

# The numbers of a head file's coef and intercept, one a line.
head_numbers() {
    awk '/"coef"/ { on = 1; next } /"fit"/ { on = 0 }
         on && /^[ \t]*-?[0-9]/ { gsub(/[ ,]/, ""); print }' "$1"
}

# max |a - b| over two files of numbers (one a line); fails on a count mismatch.
maxdiff() {
    paste -d ' ' "$1" "$2" | awk 'NF != 2 { bad = 1 } { d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d }
        END { if (bad || NR == 0) { print "count mismatch"; exit 1 } printf "%.3g\n", m }'
}

# fit_and_compare CASE [ctk-fit-head options]: coef, intercept and
# predict_proba (through ctk-predict --top-k) within 1e-4 of scikit-learn.
fit_and_compare() {
    local c=$1
    shift
    emb "$c" -m fixture > "$TMP/$c.emb"
    run --separate-stderr ctk-fit-head -q "$@" -o "$TMP/$c.head" "$TMP/$c.emb"
    [ "$status" -eq 0 ] || { echo "$stderr"; return 1; }
    [ -z "$output" ]
    head_numbers "$TMP/$c.head" > "$TMP/got"
    cat "$(G)/$c.coef" "$(G)/$c.intercept" | tr ' ' '\n' | grep -v '^$' > "$TMP/want"
    d=$(maxdiff "$TMP/got" "$TMP/want")
    echo "$c: coef+intercept max diff $d"
    awk -v d="$d" 'BEGIN { exit !(d + 0 <= 1e-4) }'
    # probabilities of every class, in the classes file's order
    local K
    K=$(wc -l < "$(G)/$c.classes")
    ctk-predict --head "$TMP/$c.head" --top-k "$K" "$TMP/$c.emb" > "$TMP/pred.tsv"
    awk -F '\t' -v K="$K" 'FILENAME == ARGV[1] { cls[FNR] = $1; next }
        { for (t = 0; t < K; t++) p[$(4 + 2 * t)] = $(5 + 2 * t)
          for (k = 1; k <= K; k++) print p[cls[k]] }' "$(G)/$c.classes" "$TMP/pred.tsv" > "$TMP/gotp"
    tr ' ' '\n' < "$(G)/$c.proba" | grep -v '^$' > "$TMP/wantp"
    d=$(maxdiff "$TMP/gotp" "$TMP/wantp")
    echo "$c: predict_proba max diff $d"
    awk -v d="$d" 'BEGIN { exit !(d + 0 <= 1e-4) }'
}

@test "binary: coef_ (1, D), intercept_ and predict_proba equal scikit-learn's" {
    fit_and_compare binary
    [ "$(jq '.coef | length' "$TMP/binary.head")" -eq 1 ]
}

@test "binary with C=10" {
    fit_and_compare binary_c10 -C 10
}

@test "binary, balanced class weights" {
    fit_and_compare binary_balanced --class-weight balanced
}

@test "multi-class (4 classes)" {
    fit_and_compare multiclass
    [ "$(jq '.coef | length' "$TMP/multiclass.head")" -eq 4 ]
}

@test "multi-class, balanced class weights" {
    fit_and_compare multiclass_balanced --class-weight balanced
}

@test "unnormalised inputs, C=0.1, balanced" {
    fit_and_compare unnormalized_c01 -C 0.1 --class-weight=balanced
}

@test "multi-label, one-vs-rest" {
    fit_and_compare multilabel --multi-label
    [ "$(jq -r '.multi_label' "$TMP/multilabel.head")" = true ]
}

@test "multi-label, one-vs-rest, balanced" {
    fit_and_compare multilabel_balanced --multi-label --class-weight balanced
}

@test "the head file records labels, model, dimension, options and history" {
    emb multiclass -m my-model > "$TMP/x.emb"
    run --separate-stderr ctk-fit-head -C 0.5 --class-weight balanced -o "$TMP/h.json" "$TMP/x.emb"
    [ "$status" -eq 0 ]
    [[ "$stderr" == *"80 rows, 4 classes, dimension 12"* ]]
    [ "$(jq -r '.format' "$TMP/h.json")" = ctk-head ]
    [ "$(jq -r '.labels | join(" ")' "$TMP/h.json")" = "anger joy sadness surprise" ]
    [ "$(jq -r '.model' "$TMP/h.json")" = my-model ]
    [ "$(jq -r '.dim' "$TMP/h.json")" = 12 ]
    [ "$(jq -r '.C' "$TMP/h.json")" = 0.5 ]
    [ "$(jq -r '.class_weight' "$TMP/h.json")" = balanced ]
    [ "$(jq -r '.fit.rows' "$TMP/h.json")" = 80 ]
    [[ "$(jq -r '.history[-1]' "$TMP/h.json")" == "ctk-fit-head "* ]]
    [[ "$(jq -r '.history[0]' "$TMP/h.json")" == *"emb_tool tsv"* ]]
    # no temporary file left beside it
    [ "$(ls "$TMP" | grep -c 'h.json')" -eq 1 ]
}

@test "reads stdin, and 'ctk fit-head' works too" {
    emb binary > "$TMP/b.emb"
    run pipeline "ctk fit-head -q -o '$TMP/b.head' < '$TMP/b.emb'"
    [ "$status" -eq 0 ]
    [ -s "$TMP/b.head" ]
}

@test "rows with an empty label are skipped with a warning" {
    { cat "$(G)/binary.tsv"; printf '\t0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8\n'; } | "$(EMB)" tsv > "$TMP/x.emb"
    run --separate-stderr ctk-fit-head -o "$TMP/h" "$TMP/x.emb"
    [ "$status" -eq 0 ]
    [[ "$stderr" == *"skipped 1 row(s) with an empty label"* ]]
    [ "$(jq -r '.fit.rows' "$TMP/h")" = 40 ]
}

@test "--help and --version" {
    run ctk-fit-head --help
    [ "$status" -eq 0 ]
    [[ "$output" == *"Usage: ctk-fit-head -o HEAD"* ]]
    [[ "$output" == *"--class-weight"* ]]
    run ctk-fit-head --version
    [ "$status" -eq 0 ]
    [[ "$output" == "ctk-fit-head (ctk) "* ]]
}

@test "usage errors exit 2 with a message and no output" {
    emb binary > "$TMP/b.emb"
    while IFS='|' read -r args msg; do
        run --separate-stderr ctk-fit-head $args
        expect_usage_error
        [[ "$stderr" == *"ctk-fit-head: "*"$msg"* ]] || { echo "args: $args: $stderr"; return 1; }
        [[ "$stderr" == *"Try 'ctk-fit-head --help'"* ]]
    done <<EOF
$TMP/b.emb|-o HEAD is required
-o $TMP/h -C 0 $TMP/b.emb|-C must be positive
-o $TMP/h -C -1 $TMP/b.emb|-C must be positive
-o $TMP/h -C abc $TMP/b.emb|'abc' is not a number
-o $TMP/h --class-weight auto $TMP/b.emb|'auto' is not one of: none, balanced
-o $TMP/h --max-iter 0 $TMP/b.emb|--max-iter
-o $TMP/h $TMP/b.emb extra|'extra' is extra
-o $TMP/h --no-such-option $TMP/b.emb|unrecognized option
EOF
    [ ! -e "$TMP/h" ]
}

@test "a single class is refused and no head is written" {
    grep '^build' "$(G)/binary.tsv" | "$(EMB)" tsv > "$TMP/one.emb"
    run --separate-stderr ctk-fit-head -o "$TMP/h" "$TMP/one.emb"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ "$stderr" == *"ctk-fit-head: $TMP/one.emb: every labeled row has the same label"* ]]
    [ -z "$(ls "$TMP" | grep '^h')" ]
}

@test "a comma in a label without --multi-label is refused" {
    emb multilabel > "$TMP/ml.emb"
    run --separate-stderr ctk-fit-head -o "$TMP/h" "$TMP/ml.emb"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"holds a comma: for rows with several labels use --multi-label"* ]]
    [ ! -e "$TMP/h" ]
}

@test "a label on every row is refused in multi-label mode" {
    sed 's/^[^\t]*\t/x\t/' "$(G)/binary.tsv" | "$(EMB)" tsv > "$TMP/all.emb"
    run --separate-stderr ctk-fit-head --multi-label -o "$TMP/h" "$TMP/all.emb"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"is on every row"* ]]
}

@test "input that is not a stream, a truncated stream, a missing column" {
    printf 'plan\thello\n' > "$TMP/text.tsv"
    run --separate-stderr ctk-fit-head -o "$TMP/h" "$TMP/text.tsv"
    [ "$status" -eq 1 ]
    [[ "$stderr" == "ctk-fit-head: "*"$TMP/text.tsv"* ]]
    emb multiclass > "$TMP/x.emb"
    head -c 3000 "$TMP/x.emb" > "$TMP/trunc.emb"
    run --separate-stderr ctk-fit-head -o "$TMP/h" "$TMP/trunc.emb"
    [ "$status" -eq 1 ]
    [[ "$stderr" == "ctk-fit-head: "* ]]
    run --separate-stderr ctk-fit-head --label-column tag -o "$TMP/h" "$TMP/x.emb"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"has no 'tag' column"* ]]
    run --separate-stderr ctk-fit-head --emb-column vec -o "$TMP/h" "$TMP/x.emb"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"has no 'vec' column"* ]]
    [ ! -e "$TMP/h" ]
}

@test "a head that cannot be written is an error" {
    emb binary > "$TMP/b.emb"
    run --separate-stderr ctk-fit-head -o "$TMP/no/such/dir/h" "$TMP/b.emb"
    [ "$status" -eq 1 ]
    [[ "$stderr" == "ctk-fit-head: "*"$TMP/no/such/dir/h"* ]]
}

@test "--mlp: a one-hidden-layer head separates rings a linear head cannot" {
    "$(EMB)" tsv -m fixture < "$SRC/tests/golden/mlp/rings.tsv" > "$TMP/rings.emb"
    run --separate-stderr ctk-fit-head --mlp 16 --seed 3 --max-iter 500 -o "$TMP/mlp.head" "$TMP/rings.emb"
    [ "$status" -eq 0 ]
    [[ "$stderr" == *"90 rows, 3 classes"* ]]
    [ "$(jq -r '.kind' "$TMP/mlp.head")" = mlp ]
    [ "$(jq -r '.hidden' "$TMP/mlp.head")" = 16 ]
    [ "$(jq -r '[(.layers[0].weight | length), (.layers[0].weight[0] | length), (.layers[1].weight | length), (.layers[1].bias | length)] | join(" ")' "$TMP/mlp.head")" = "16 4 3 3" ]
    # training accuracy through ctk-predict: the MLP >= 0.95, logistic regression well below
    ctk-predict --head "$TMP/mlp.head" "$TMP/rings.emb" | cut -f2 > "$TMP/pred"
    cut -f1 "$SRC/tests/golden/mlp/rings.tsv" > "$TMP/truth"
    acc=$(paste "$TMP/pred" "$TMP/truth" | awk '$1 == $2 { g++ } END { print g / NR }')
    echo "MLP accuracy $acc"
    awk -v a="$acc" 'BEGIN { exit !(a >= 0.95) }'
    ctk-fit-head -q -o "$TMP/lr.head" "$TMP/rings.emb"
    ctk-predict --head "$TMP/lr.head" "$TMP/rings.emb" | cut -f2 > "$TMP/pred"
    acc=$(paste "$TMP/pred" "$TMP/truth" | awk '$1 == $2 { g++ } END { print g / NR }')
    echo "logistic regression accuracy $acc"
    awk -v a="$acc" 'BEGIN { exit !(a <= 0.7) }'
    # the same seed gives the same head
    ctk-fit-head -q --mlp 16 --seed 3 --max-iter 500 -o "$TMP/mlp2.head" "$TMP/rings.emb"
    [ "$(jq -c .layers "$TMP/mlp.head")" = "$(jq -c .layers "$TMP/mlp2.head")" ]
}

@test "--mlp with --multi-label: a sigmoid per label" {
    "$(EMB)" tsv < "$SRC/tests/golden/mlp/multilabel.tsv" > "$TMP/ml.emb"
    run --separate-stderr ctk-fit-head --mlp 8 --multi-label --max-iter 500 -o "$TMP/ml.head" "$TMP/ml.emb"
    [ "$status" -eq 0 ]
    ctk-predict --head "$TMP/ml.head" "$TMP/ml.emb" | cut -f2 > "$TMP/pred"
    cut -f1 "$SRC/tests/golden/mlp/multilabel.tsv" > "$TMP/truth"
    acc=$(paste "$TMP/pred" "$TMP/truth" | awk -F '\t' '$1 == $2 { g++ } END { print g / NR }')
    echo "exact label-set accuracy $acc"
    awk -v a="$acc" 'BEGIN { exit !(a >= 0.9) }'
}

@test "--mlp usage errors" {
    run --separate-stderr ctk-fit-head --mlp 0 -o "$TMP/h" x
    expect_usage_error
    [[ "$stderr" == *"--mlp: '0' is not a whole number"* ]]
    run --separate-stderr ctk-fit-head --mlp 8 --alpha -1 -o "$TMP/h" x
    expect_usage_error
    run --separate-stderr ctk-fit-head --mlp 8 --multi-label --class-weight balanced -o "$TMP/h" x
    expect_usage_error
    [[ "$stderr" == *"--class-weight balanced is for single-label heads"* ]]
}
