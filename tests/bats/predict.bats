#!/usr/bin/env bats
# ctk-predict: labels and probabilities (against scikit-learn's
# predict_proba on the fixtures), the three output formats, neighbour
# agreement on a hand-computed case, thresholds, refusals, bad inputs.
load setup

G() { echo "$SRC/tests/golden/logreg"; }
EMB() { echo "$CTK_BUILDDIR/tests/unit/emb_tool"; }

# head CASE [options]: fit a head on a fixture (model "fixture") into $TMP/CASE.head
head_for() {
    local c=$1
    shift
    "$(EMB)" tsv -m fixture < "$(G)/$c.tsv" > "$TMP/$c.emb"
    ctk-fit-head -q "$@" -o "$TMP/$c.head" "$TMP/$c.emb"
}

@test "tsv: id, the most probable label, its probability (scikit-learn's within 1e-4)" {
    head_for multiclass
    run --separate-stderr ctk-predict --head "$TMP/multiclass.head" "$TMP/multiclass.emb"
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 80 ]
    [[ "${lines[0]}" =~ ^1$'\t'[a-z]+$'\t'0\.[0-9]{6}$ ]]
    # expected: argmax and max of each predict_proba row
    awk 'FILENAME == ARGV[1] { cls[FNR] = $1; next }
         { b = 1; for (k = 2; k <= NF; k++) if ($k > $b) b = k
           printf "%d\t%s\t%.9f\n", FNR, cls[b], $b }' "$(G)/multiclass.classes" "$(G)/multiclass.proba" > "$TMP/want"
    echo "$output" > "$TMP/got"
    paste "$TMP/got" "$TMP/want" | awk -F '\t' '
        $1 != $4 || $2 != $5 { print "row " $1 ": " $2 " want " $5; bad = 1 }
        { d = $3 - $6; if (d < 0) d = -d; if (d > m) m = d }
        END { print "max prob diff", m; exit bad || m > 1e-4 }'
}

@test "binary head: the probability of each class is softmax([-d, d])" {
    head_for binary
    run ctk-predict --head "$TMP/binary.head" --top-k 2 "$TMP/binary.emb"
    [ "$status" -eq 0 ]
    echo "$output" | awk -F '\t' '{ p[$4] = $5; p[$6] = $7; print p["build"], p["plan"] }' > "$TMP/got"
    paste -d ' ' "$TMP/got" "$(G)/binary.proba" | awk '
        { for (k = 1; k <= 2; k++) { d = $k - $(k + 2); if (d < 0) d = -d; if (d > m) m = d } }
        END { print "max diff", m; exit NR != 40 || m > 1e-4 }'
}

@test "multi-label head: every label with probability >= 0.5, joined by commas" {
    head_for multilabel --multi-label
    run ctk-predict --head "$TMP/multilabel.head" "$TMP/multilabel.emb"
    [ "$status" -eq 0 ]
    awk 'FILENAME == ARGV[1] { cls[FNR] = $1; next }
         { s = ""; for (k = 1; k <= NF; k++) if ($k >= 0.5) s = s (s == "" ? "" : ",") cls[k]
           print s }' "$(G)/multilabel.classes" "$(G)/multilabel.proba" > "$TMP/want"
    echo "$output" | cut -f2 > "$TMP/got"
    diff "$TMP/got" "$TMP/want"
    # some rows have no label at all, some several
    grep -q '^$' "$TMP/got"
    grep -q ',' "$TMP/got"
}

@test "--top-k lists the K most probable labels, most probable first" {
    head_for multiclass
    run ctk-predict --head "$TMP/multiclass.head" --top-k 3 --header "$TMP/multiclass.emb"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "id	label	prob	label1	prob1	label2	prob2	label3	prob3" ]
    echo "$output" | tail -n +2 | awk -F '\t' 'NF != 9 || $2 != $4 || $3 != $5 || $5 < $7 || $7 < $9 { bad = 1 }
        END { exit bad }'
    # K larger than the number of labels lists them all
    run ctk-predict --head "$TMP/multiclass.head" --top-k 9 "$TMP/multiclass.emb"
    [ "$(echo "${lines[0]}" | awk -F '\t' '{ print NF }')" -eq 11 ]
}

@test "jsonl: one object a row, keyed by the row id" {
    head_for multiclass
    run ctk-predict --head "$TMP/multiclass.head" --format jsonl --top-k 2 "$TMP/multiclass.emb"
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 80 ]
    echo "$output" | jq -e -s 'length == 80 and (.[0].id == 1) and (.[79].id == 80)
        and all(.[]; (.label | type) == "string" and .prob > 0 and (.top | length) == 2
                      and .top[0].label == .label)'
}

@test "rows are numbered from 1 when the input has no id column" {
    "$(EMB)" tsv --no-id -m fixture < "$(G)/binary.tsv" > "$TMP/noid.emb"
    head_for binary
    run ctk-predict --head "$TMP/binary.head" "$TMP/noid.emb"
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | cut -f1 | tr '\n' ' ')" = "$(seq 1 40 | tr '\n' ' ')" ]
}

@test "stream: input columns kept, pred and prob appended, history extended" {
    head_for multiclass
    run pipeline "ctk-predict --head '$TMP/multiclass.head' --format stream '$TMP/multiclass.emb' > '$TMP/out.st'"
    [ "$status" -eq 0 ]
    run ctk-cat --info "$TMP/out.st"
    [[ "$output" == *"pred "*"string"* ]]
    [[ "$output" == *"prob "*"dense"*"F32"* ]]
    [[ "$output" == *"emb "* ]]
    [[ "$output" == *"ctk-predict --head"* ]]
    run ctk-cat -c id,pred,prob "$TMP/out.st"
    [ "$status" -eq 0 ]
    ctk-predict --head "$TMP/multiclass.head" "$TMP/multiclass.emb" | cut -f1,2 > "$TMP/tsv"
    echo "$output" | cut -f1,2 | diff - "$TMP/tsv"
    # predicting again replaces the columns instead of adding a second set
    run pipeline "ctk-predict --head '$TMP/multiclass.head' -f stream < '$TMP/out.st' | ctk-cat --info"
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | grep -c '^  pred ')" -eq 1 ]
}

# Labeled points in 2-D and two queries; cosine neighbours by hand:
#   q1 = (1, 0.2): (0.9,0.1) A .9963, (1,0) A .9806, (0.7,0.7) B .8320, (0.1,0.9) B .3030, (0,1) B .1961
#   q2 = (0.6, 0.8): (0.7,0.7) B .9899, (0.1,0.9) B .8614, (0,1) B .8000, (0.9,0.1) A .6847, (1,0) A .6000
neighbours_case() {
    printf 'A\t1 0\nA\t0.9 0.1\nB\t0 1\nB\t0.1 0.9\nB\t0.7 0.7\n' | "$(EMB)" tsv -m m2 > "$TMP/lab.emb"
    printf 'x\t1 0.2\nx\t0.6 0.8\n' | "$(EMB)" tsv -m m2 > "$TMP/q.emb"
    ctk-fit-head -q -C 100 -o "$TMP/ab.head" "$TMP/lab.emb"
}

@test "--neighbors: share of the k nearest labeled examples that agree (hand-computed)" {
    neighbours_case
    run ctk-predict --head "$TMP/ab.head" --neighbors "$TMP/lab.emb" -k 3 "$TMP/q.emb"
    [ "$status" -eq 0 ]
    [ "$(echo "${lines[0]}" | cut -f1,2,4)" = "1	A	0.666667" ]
    [ "$(echo "${lines[1]}" | cut -f1,2,4)" = "2	B	1.000000" ]
    run ctk-predict --head "$TMP/ab.head" --neighbors "$TMP/lab.emb" -k 5 "$TMP/q.emb"
    [ "$(echo "${lines[0]}" | cut -f4)" = "0.400000" ]
    [ "$(echo "${lines[1]}" | cut -f4)" = "0.600000" ]
    # k beyond the labeled set uses all of it
    run ctk-predict --head "$TMP/ab.head" --neighbors "$TMP/lab.emb" -k 50 "$TMP/q.emb"
    [ "$(echo "${lines[0]}" | cut -f4)" = "0.400000" ]
    # jsonl and stream carry it too
    run ctk-predict --head "$TMP/ab.head" --neighbors "$TMP/lab.emb" -k 3 -f jsonl "$TMP/q.emb"
    [ "$(echo "${lines[0]}" | jq -r .agree)" = 0.666667 ]
    run pipeline "ctk-predict --head '$TMP/ab.head' --neighbors '$TMP/lab.emb' -k 3 -f stream '$TMP/q.emb' | ctk-cat -c pred,agree"
    [ "${lines[1]}" = "B	1" ]
}

@test "--min-agreement leaves rows whose neighbours disagree unlabeled" {
    neighbours_case
    run ctk-predict --head "$TMP/ab.head" --neighbors "$TMP/lab.emb" -k 3 --min-agreement 0.7 "$TMP/q.emb"
    [ "$status" -eq 0 ]
    [ "$(echo "${lines[0]}" | cut -f1,2,4)" = "1		0.666667" ]
    [ "$(echo "${lines[1]}" | cut -f2)" = B ]
    run ctk-predict --head "$TMP/ab.head" --neighbors "$TMP/lab.emb" -k 3 --min-agreement 0.7 -f jsonl "$TMP/q.emb"
    [ "$(echo "${lines[0]}" | jq -r .label)" = null ]
}

@test "--min-confidence leaves rows below P unlabeled, and only those" {
    head_for multiclass
    run ctk-predict --head "$TMP/multiclass.head" --min-confidence 0.8 "$TMP/multiclass.emb"
    [ "$status" -eq 0 ]
    echo "$output" | awk -F '\t' '($3 < 0.8) != ($2 == "") { bad = 1 } $2 == "" { e++ } $2 != "" { l++ }
        END { print e " unlabeled, " l " labeled"; exit bad || !e || !l }'
}

@test "embeddings of another model or dimension are refused, naming both" {
    head_for binary
    "$(EMB)" tsv -m other-model < "$(G)/binary.tsv" > "$TMP/other.emb"
    run --separate-stderr ctk-predict --head "$TMP/binary.head" "$TMP/other.emb"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ "$stderr" == "ctk-predict: $TMP/other.emb holds embeddings of model 'other-model', but the head $TMP/binary.head was fitted on embeddings of model 'fixture'"* ]]
    "$(EMB)" tsv < "$(G)/binary.tsv" > "$TMP/nomodel.emb"
    run --separate-stderr ctk-predict --head "$TMP/binary.head" "$TMP/nomodel.emb"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"model '(none)'"* ]]
    "$(EMB)" tsv -m fixture < "$(G)/multiclass.tsv" > "$TMP/d12.emb"
    run --separate-stderr ctk-predict --head "$TMP/binary.head" "$TMP/d12.emb"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ "$stderr" == *"dimension 12, but the head $TMP/binary.head was fitted on dimension 8"* ]]
    # the neighbours must fit too
    run --separate-stderr ctk-predict --head "$TMP/binary.head" --neighbors "$TMP/other.emb" "$TMP/binary.emb"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"'other-model'"* ]]
}

@test "a missing, corrupt or foreign head file is an error naming it" {
    head_for binary
    run --separate-stderr ctk-predict --head "$TMP/nope.json" "$TMP/binary.emb"
    [ "$status" -eq 1 ]
    [[ "$stderr" == "ctk-predict: "*"$TMP/nope.json"* ]]
    echo '{"coef": [' > "$TMP/bad.json"
    run --separate-stderr ctk-predict --head "$TMP/bad.json" "$TMP/binary.emb"
    [ "$status" -eq 1 ]
    [[ "$stderr" == "ctk-predict: $TMP/bad.json"* ]]
    echo '{"a": 1}' > "$TMP/foreign.json"
    run --separate-stderr ctk-predict --head "$TMP/foreign.json" "$TMP/binary.emb"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"not a ctk head file"* ]]
    jq '.coef[0] |= .[1:]' "$TMP/binary.head" > "$TMP/short.json"
    run --separate-stderr ctk-predict --head "$TMP/short.json" "$TMP/binary.emb"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"coef[0] should be an array of 8 numbers"* ]]
    [ -z "$output" ]
}

@test "a truncated input stream is an error" {
    head_for multiclass
    head -c 3000 "$TMP/multiclass.emb" > "$TMP/trunc.emb"
    run --separate-stderr ctk-predict --head "$TMP/multiclass.head" -f stream "$TMP/trunc.emb"
    [ "$status" -eq 1 ]
    [[ "$stderr" == "ctk-predict: "* ]]
}

@test "a failed write is a failure" {
    head_for binary
    run pipeline "ctk-predict --head '$TMP/binary.head' '$TMP/binary.emb' > /dev/full"
    [ "$status" -eq 1 ]
    run pipeline "ctk-predict --head '$TMP/binary.head' -f stream '$TMP/binary.emb' > /dev/full"
    [ "$status" -eq 1 ]
}

@test "--help and --version" {
    run ctk-predict --help
    [ "$status" -eq 0 ]
    [[ "$output" == *"Usage: ctk-predict --head HEAD"* ]]
    [[ "$output" == *"--min-confidence"* ]]
    run ctk-predict --version
    [ "$status" -eq 0 ]
    [[ "$output" == "ctk-predict (ctk) "* ]]
}

@test "usage errors exit 2 with a message and no output" {
    head_for binary
    local h="--head $TMP/binary.head"
    while IFS='|' read -r args msg; do
        run --separate-stderr ctk-predict $args
        expect_usage_error
        [[ "$stderr" == *"ctk-predict: "*"$msg"* ]] || { echo "args: $args: $stderr"; return 1; }
    done <<EOF
$TMP/binary.emb|--head HEAD is required
$h --format csv $TMP/binary.emb|'csv' is not one of: tsv, jsonl, stream
$h --min-agreement 0.5 $TMP/binary.emb|--min-agreement needs --neighbors
$h --min-confidence 1.5 $TMP/binary.emb|'1.5' is not a number from 0 to 1
$h --top-k 0 $TMP/binary.emb|--top-k
$h -k 0 --neighbors $TMP/binary.emb $TMP/binary.emb|-k
$h -f stream --top-k 2 $TMP/binary.emb|--top-k is for --format tsv or jsonl
$h -f jsonl --header $TMP/binary.emb|--header is for --format tsv
$h $TMP/binary.emb extra|'extra' is extra
EOF
}
