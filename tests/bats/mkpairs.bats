#!/usr/bin/env bats
# ctk-mkpairs: SetFit's pairs, counted by hand on a small input.
# tests/data/mkpairs-small.tsv: 4 plan and 3 build examples, so
#   positives P = C(4,2) + C(3,2) = 6 + 3 = 9, negatives N = 4*3 = 12.
load setup

small() { echo "$DATA/mkpairs-small.tsv"; }

# label of a text in the small input
labels_awk='BEGIN { FS = "\t" } NR == FNR { lab[$2] = $1; next }'

@test "unique: every pair once, 9 positive and 12 negative" {
    run pipeline "ctk-mkpairs -s unique $(small) | ctk-cat"
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | wc -l)" -eq 21 ]
    [ "$(echo "$output" | awk -F'\t' '$3 == 1' | wc -l)" -eq 9 ]
    [ "$(echo "$output" | awk -F'\t' '$3 == 0' | wc -l)" -eq 12 ]
    # all distinct unordered pairs, never a text with itself
    [ "$(echo "$output" | awk -F'\t' '{ a = $1 < $2 ? $1 "|" $2 : $2 "|" $1; print a }' | sort -u | wc -l)" -eq 21 ]
    [ "$(echo "$output" | awk -F'\t' '$1 == $2' | wc -l)" -eq 0 ]
}

@test "positives share a label, negatives do not" {
    pipeline "ctk-mkpairs -s unique $(small) | ctk-cat > $TMP/p.tsv"
    run awk "$labels_awk"' { same = lab[$1] == lab[$2]; if (($3 == 1) != same || !($1 in lab) || !($2 in lab)) bad++ } END { print bad + 0 }' "$(small)" "$TMP/p.tsv"
    [ "$output" = "0" ]
}

@test "oversampling (default) gives max(P, N) of each, undersampling min(P, N)" {
    run pipeline "ctk-mkpairs $(small) | ctk-cat | awk -F'\t' '{ n[\$3]++ } END { print n[1], n[0] }'"
    [ "$output" = "12 12" ]
    run pipeline "ctk-mkpairs -s undersampling $(small) | ctk-cat | awk -F'\t' '{ n[\$3]++ } END { print n[1], n[0] }'"
    [ "$output" = "9 9" ]
}

@test "pairs alternate positive, negative as SetFit's sampler yields them" {
    run pipeline "ctk-mkpairs -s undersampling $(small) | ctk-cat -c score | tr '\n' ' '"
    [ "$output" = "1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 1 0 " ]
}

@test "--iterations N: N positives and N negatives per example" {
    run pipeline "ctk-mkpairs -n 2 $(small) | ctk-cat | awk -F'\t' '{ n[\$3]++ } END { print n[1], n[0] }'"
    [ "$output" = "14 14" ]
}

@test "--num-pairs N: exactly N rows, ids from 1" {
    run pipeline "ctk-mkpairs -N 5 $(small) | ctk-cat -c id,score | tr '\t\n' ': '"
    [ "$output" = "1:1 2:0 3:1 4:0 5:1 " ]
}

@test "the same seed gives the same bytes, another seed another order" {
    ctk-mkpairs --seed 7 "$(small)" > "$TMP/a"
    ctk-mkpairs --seed 7 "$(small)" > "$TMP/b"
    ctk-mkpairs --seed 8 "$(small)" > "$TMP/c"
    cmp "$TMP/a" "$TMP/b"
    ! cmp -s <(ctk-cat "$TMP/a") <(ctk-cat "$TMP/c")
}

@test "mnrl: anchor, positive, label of one class" {
    pipeline "ctk-mkpairs -f mnrl -s unique $(small) | ctk-cat --header > $TMP/m.tsv"
    [ "$(head -1 "$TMP/m.tsv")" = "$(printf 'anchor\tpositive\tlabel')" ]
    [ "$(tail -n +2 "$TMP/m.tsv" | wc -l)" -eq 9 ]
    run awk "$labels_awk"' FNR > 1 { if (lab[$1] != $3 || lab[$2] != $3 || $1 == $2) bad++ } END { print bad + 0 }' "$(small)" "$TMP/m.tsv"
    [ "$output" = "0" ]
}

@test "triplet: the negative is of another class" {
    pipeline "ctk-mkpairs -f triplet -N 40 $(small) | ctk-cat > $TMP/t.tsv"
    [ "$(wc -l < "$TMP/t.tsv")" -eq 40 ]
    run awk "$labels_awk"' { if (lab[$1] != $4 || lab[$2] != $4 || lab[$3] == $4 || !($3 in lab)) bad++ } END { print bad + 0 }' "$(small)" "$TMP/t.tsv"
    [ "$output" = "0" ]
}

@test "a stream input gives the same pairs as the TSV" {
    ctk-mkpairs -s unique "$(small)" | ctk-cat > "$TMP/a"
    pipeline "ctk-cat -t stream $(small) | ctk-mkpairs -s unique | ctk-cat > $TMP/b"
    cmp "$TMP/a" "$TMP/b"
}

@test "duplicate rows are dropped with a warning" {
    { cat "$(small)"; head -2 "$(small)"; } > "$TMP/dup.tsv"
    run --separate-stderr pipeline "ctk-mkpairs -s unique $TMP/dup.tsv | ctk-cat"
    [ "$status" -eq 0 ]
    [[ "$stderr" == *"2 duplicate rows (same label and text) dropped"* ]]
    [ "$(echo "$output" | wc -l)" -eq 21 ]
}

@test "a class with one example is warned about" {
    printf 'a\tx one\na\tx two\nb\ty one\n' > "$TMP/one.tsv"
    run --separate-stderr pipeline "ctk-mkpairs -s unique $TMP/one.tsv | ctk-cat"
    [ "$status" -eq 0 ]
    [[ "$stderr" == *"ctk-mkpairs: class 'b' has a single example"* ]]
    [ "$(echo "$output" | wc -l)" -eq 3 ]
}

@test "one class is refused: exit 1, a message, no output" {
    printf 'a\tx one\na\tx two\n' > "$TMP/oneclass.tsv"
    run --separate-stderr ctk-mkpairs "$TMP/oneclass.tsv"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"ctk-mkpairs: the input has one class ('a')"* ]]
    [ -z "$output" ]
}

@test "empty input is refused" {
    run --separate-stderr ctk-mkpairs /dev/null
    [ "$status" -eq 1 ]
    [ -z "$output" ]
}

@test "--simcse: each text twice, every text once" {
    run pipeline "ctk-mkpairs --simcse $(small) | ctk-cat"
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | wc -l)" -eq 7 ]
    [ "$(echo "$output" | awk -F'\t' '$1 != $2' | wc -l)" -eq 0 ]
    [ "$(echo "$output" | cut -f1 | sort -u | wc -l)" -eq 7 ]
}

@test "--nli: (premise, entailment, contradiction), neutral dropped" {
    run pipeline "ctk-mkpairs --nli $DATA/mkpairs-nli.tsv | ctk-cat | sort"
    [ "$status" -eq 0 ]
    expected="$(printf '%s\n' \
        "$(printf 'A child sleeps.\tA kid rests.\tThe child is running.')" \
        "$(printf 'A child sleeps.\tSomeone is asleep.\tThe child is running.')" \
        "$(printf 'A man plays a guitar.\tSomeone plays music.\tNobody is playing.')")"
    [ "$output" = "$expected" ]
}

@test "--nli refuses an unknown label" {
    printf 'maybe\tA.\tB.\n' > "$TMP/bad.tsv"
    run --separate-stderr ctk-mkpairs --nli "$TMP/bad.tsv"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"NLI label 'maybe' is not entailment, neutral or contradiction"* ]]
    [ -z "$output" ]
}

@test "many examples: pairs are made as written, not listed first" {
    # 40000 examples: SetFit would list 8e8 pairs; here memory is the input's
    awk 'BEGIN { for (i = 0; i < 40000; i++) printf "%s\ttext number %d\n", i % 2 ? "a" : "b", i }' > "$TMP/big.tsv"
    run pipeline "ctk-mkpairs -s unique -N 1000 $TMP/big.tsv | ctk-cat | wc -l"
    [ "$output" -eq 1000 ]
}

@test "usage errors exit 2 with no output" {
    run --separate-stderr ctk-mkpairs --format nope "$(small)"
    expect_usage_error
    [[ "$stderr" == *"unknown format 'nope'"* ]]
    run --separate-stderr ctk-mkpairs --iterations 0 "$(small)"
    expect_usage_error
    run --separate-stderr ctk-mkpairs --simcse --nli "$(small)"
    expect_usage_error
    run --separate-stderr ctk-mkpairs -n 2 -N 3 "$(small)"
    expect_usage_error
    run --separate-stderr ctk-mkpairs --sampling sometimes "$(small)"
    expect_usage_error
}

@test "--help and --version" {
    run ctk-mkpairs --help
    [ "$status" -eq 0 ]
    [[ "$output" == *"--sampling"* ]]
    run ctk-mkpairs --version
    [ "$status" -eq 0 ]
}

@test "a missing file is an error naming it" {
    run --separate-stderr ctk-mkpairs "$TMP/nope.tsv"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"nope.tsv"* ]]
    [ -z "$output" ]
}

@test "a write error is a failure" {
    run --separate-stderr bash -c "ctk-mkpairs '$(small)' > /dev/full"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"ctk-mkpairs:"* ]]
}
