#!/usr/bin/env bats
# ctk-mine-negatives: the mined negatives equal an exhaustive reference
# (tests/ref/mine_ref.py: numpy in float64, BM25 by its formula) on a
# fixture with labels, duplicate texts, texts with two labels, tied vectors
# and anchors outside the corpus; guards, formats, curriculum, stages,
# random sampling; refusals and bad inputs.
load setup

G() { echo "$SRC/tests/golden/mine"; }
tool() { "$CTK_BUILDDIR/tests/unit/emb_tool" cols "$@"; }

fixture() {
    tool -m fixture 'label:s,text:s,emb:f,ids:i' < "$(G)/corpus.tsv" > "$TMP/corpus.ctk"
    tool -m fixture 'anchor:s,positive:s,label:s,anchor.emb:f,positive.emb:f,anchor.ids:i,positive.ids:i' \
        < "$(G)/pairs.tsv" > "$TMP/pairs.ctk"
}

# same CASE COLUMNS OPTIONS...: mine with OPTIONS; the texts must equal the
# reference's and the scores agree within 1e-5
same() {
    local case=$1 cols=$2
    shift 2
    fixture
    ctk-mine-negatives -q --corpus "$TMP/corpus.ctk" "$@" "$TMP/pairs.ctk" > "$TMP/out.ctk"
    ctk-cat -c "$cols" "$TMP/out.ctk" > "$TMP/got"
    [ "$(wc -l < "$TMP/got")" -eq "$(wc -l < "$(G)/$case.tsv")" ]
    paste "$TMP/got" "$(G)/$case.tsv" | awk -F '\t' '
        { n = NF / 2
          for (i = 1; i <= n; i++) {
            a = $i; b = $(i + n)
            if (a ~ /^-?[0-9.]+(e-?[0-9]+)?$/) { d = a - b; if (d < 0) d = -d; if (d > m) m = d }
            else if (a != b) { print "row " NR ": " a " want " b; bad = 1 }
          } }
        END { print "max score diff", m + 0; exit bad || m > 1e-5 }'
}

@test "default: the 3 nearest true negatives per anchor, as the exhaustive search" {
    same default anchor,positive,negative,negative.score
}

@test "rank window and absolute margin (--range-min 1 --range-max 8 --margin 0.05)" {
    same window-margin anchor,positive,negative,negative.score -n 2 --range-min 1 --range-max 8 --margin 0.05
}

@test "relative margin, max-score and min-score" {
    same relmargin-scores anchor,positive,negative,negative.score -n 4 --relative-margin 0.1 \
        --max-score 0.6 --min-score -0.5
}

@test "without labels: only the anchor, its positives and duplicates are excluded" {
    same nolabels anchor,positive,negative,negative.score --label-column nolabel
}

@test "bm25: Lucene-idf BM25 with --k1 1.5 --b 0.6" {
    same bm25 anchor,positive,negative,negative.score -M bm25 --k1 1.5 --b 0.6
}

@test "n-tuple with the curriculum: rows with all negatives, easy first" {
    same ntuple-curriculum anchor,positive,negative,negative2,negative.score,negative2.score \
        -n 2 -f n-tuple --curriculum
}

@test "never a false negative: no negative has the anchor's label, text or positive" {
    fixture
    ctk-mine-negatives -q --corpus "$TMP/corpus.ctk" -n 10 --range-max 40 "$TMP/pairs.ctk" |
        ctk-cat -c anchor,positive,label,negative > "$TMP/got"
    # the corpus labels of every text (a text may have two)
    awk -F '\t' 'NR == FNR { lab[$2] = lab[$2] " " $1 " "; next }
        $4 == $1 || $4 == $2 { print "row " FNR ": negative is the anchor or positive"; bad = 1 }
        index(lab[$4], " " $3 " ") { print "row " FNR ": " $4 " has label " $3; bad = 1 }
        END { exit bad }' "$(G)/corpus.tsv" "$TMP/got"
    # no pair gets the same negative twice (a pair's rows are consecutive)
    awk -F '\t' '$1 "\t" $2 != k { k = $1 "\t" $2; delete seen }
        seen[$4]++ { print "row " NR ": " $4 " twice"; bad = 1 } END { exit bad }' "$TMP/got"
}

@test "--stages: a stage column, 1 .. N in curriculum order" {
    fixture
    ctk-mine-negatives -q --corpus "$TMP/corpus.ctk" --stages 3 "$TMP/pairs.ctk" |
        ctk-cat -c stage,negative.score > "$TMP/got"
    [ "$(wc -l < "$TMP/got")" -eq 120 ]
    awk -F '\t' '$1 < s || $2 < v - 1e-7 { bad = 1 } { s = $1; v = $2; n[$1]++ }
        END { exit bad || n[1] != 40 || n[2] != 40 || n[3] != 40 }' "$TMP/got"
}

@test "random sampling: seeded, within the window, other negatives than top" {
    fixture
    run_mine() { ctk-mine-negatives -q --corpus "$TMP/corpus.ctk" --range-max 12 "$@" "$TMP/pairs.ctk" |
        ctk-cat -c anchor,negative; }
    run_mine --sampling-strategy random --seed 5 > "$TMP/r5"
    run_mine --sampling-strategy random --seed 5 > "$TMP/r5b"
    run_mine --sampling-strategy random --seed 6 > "$TMP/r6"
    run_mine -n 12 > "$TMP/window"
    run_mine > "$TMP/top"
    cmp "$TMP/r5" "$TMP/r5b"
    ! cmp -s "$TMP/r5" "$TMP/r6"
    ! cmp -s "$TMP/r5" "$TMP/top"
    # every sampled negative is in its anchor's window of 12
    awk -F '\t' 'NR == FNR { w[$1 "\t" $2] = 1; next } !w[$1 "\t" $2] { bad = 1 } END { exit bad }' \
        "$TMP/window" "$TMP/r5"
}

@test "the output goes through ctk-tok: negatives become negative.ids" {
    fixture
    pipeline "ctk-mine-negatives -q --corpus '$TMP/corpus.ctk' -n 2 -f n-tuple '$TMP/pairs.ctk' | ctk-tok -q > '$TMP/tok.ctk'"
    run ctk-cat --info "$TMP/tok.ctk"
    [[ "$output" == *"negative.ids"* ]]
    [[ "$output" == *"negative2.ids"* ]]
    [[ "$output" == *"anchor.ids"* ]]
}

@test "the summary: anchors by negatives, score table, drops per guard" {
    fixture
    run --separate-stderr ctk-mine-negatives --corpus "$TMP/corpus.ctk" --margin 0.05 "$TMP/pairs.ctk"
    [ "$status" -eq 0 ]
    [[ "$stderr" == *"anchors by number of negatives: 0: "* ]]
    [[ "$stderr" == *"median"* ]]
    [[ "$stderr" == *"margin "[1-9]* ]]
    [[ "$stderr" == *"10 duplicate corpus rows, 5 texts with two labels"* ]]
    run --separate-stderr ctk-mine-negatives -q --corpus "$TMP/corpus.ctk" "$TMP/pairs.ctk"
    [ -z "$stderr" ]
}

@test "a corpus of one label: its anchors get no negative and are left out" {
    fixture
    printf 'a\tx\t1 0 0 0 0 0 0 0\n' | tool -m fixture 'label:s,text:s,emb:f' > "$TMP/one.ctk"
    run --separate-stderr ctk-mine-negatives --corpus "$TMP/one.ctk" "$TMP/pairs.ctk"
    [ "$status" -eq 0 ]
    [[ "$stderr" == *"anchors by number of negatives: 0: 14, 1: 26, 2: 0, 3: 0"* ]]
    ctk-mine-negatives -q --corpus "$TMP/one.ctk" "$TMP/pairs.ctk" | ctk-cat -c label,negative > "$TMP/got"
    [ "$(wc -l < "$TMP/got")" -eq 26 ]
    ! grep -q '^a' "$TMP/got"
}

@test "refusals: another model, another dimension, missing columns" {
    fixture
    sed 's/\t[^\t]*$//' "$(G)/corpus.tsv" | tool -m other 'label:s,text:s,emb:f' > "$TMP/other.ctk"
    run --separate-stderr ctk-mine-negatives --corpus "$TMP/other.ctk" "$TMP/pairs.ctk"
    [ "$status" -eq 1 ] && [ -z "$output" ]
    [[ "$stderr" == "ctk-mine-negatives: $TMP/other.ctk: made with model 'other', but the pairs with model 'fixture'"* ]]
    printf 'a\tx\t1 0 0\n' | tool -m fixture 'label:s,text:s,emb:f' > "$TMP/d3.ctk"
    run --separate-stderr ctk-mine-negatives --corpus "$TMP/d3.ctk" "$TMP/pairs.ctk"
    [ "$status" -eq 1 ] && [ -z "$output" ]
    [[ "$stderr" == *"dimension 8 but the corpus's 3"* ]]
    cut -f1,2 "$(G)/corpus.tsv" | tool -m fixture 'label:s,text:s' > "$TMP/noemb.ctk"
    run --separate-stderr ctk-mine-negatives --corpus "$TMP/noemb.ctk" "$TMP/pairs.ctk"
    [ "$status" -eq 1 ] && [ -z "$output" ]
    [[ "$stderr" == *"no column 'emb'; embed the corpus with ctk-encode"* ]]
    cut -f1-3 "$(G)/pairs.tsv" | tool -m fixture 'anchor:s,positive:s,label:s' > "$TMP/noembp.ctk"
    run --separate-stderr ctk-mine-negatives --corpus "$TMP/corpus.ctk" "$TMP/noembp.ctk"
    [ "$status" -eq 1 ] && [ -z "$output" ]
    [[ "$stderr" == *"no column 'anchor.emb'; embed the pairs first"* ]]
    run --separate-stderr ctk-mine-negatives -M bm25 --corpus "$TMP/noemb.ctk" "$TMP/pairs.ctk"
    [ "$status" -eq 1 ] && [[ "$stderr" == *"no column 'ids'"* ]]
    run --separate-stderr ctk-mine-negatives --corpus "$TMP/nonexistent" "$TMP/pairs.ctk"
    [ "$status" -eq 1 ] && [ -z "$output" ]
}

@test "usage errors exit 2 with nothing on stdout" {
    fixture
    for args in "" "--corpus" "--corpus x -M dense" "--corpus x -n 0" "--corpus x --range-min 5 --range-max 5" \
        "--corpus x --min-score 0.9 --max-score 0.1" "--corpus x --sampling-strategy best" \
        "--corpus x -f csv" "--corpus x --relative-margin 2" "--corpus x --stages 0" "--corpus x a b" \
        "--corpus x --bogus"; do
        run --separate-stderr ctk-mine-negatives $args
        expect_usage_error
        [[ "$stderr" == *"Try 'ctk-mine-negatives --help'"* ]]
    done
}

@test "--help and --version; a write error fails" {
    run ctk-mine-negatives --help
    [ "$status" -eq 0 ] && [[ "$output" == "Usage: ctk-mine-negatives"* ]]
    run ctk-mine-negatives --version
    [ "$status" -eq 0 ]
    fixture
    run ctk-mine-negatives -q --corpus "$TMP/corpus.ctk" "$TMP/pairs.ctk" -o /dev/null
    [ "$status" -eq 2 ]
    run bash -c "ctk-mine-negatives -q --corpus '$TMP/corpus.ctk' '$TMP/pairs.ctk' > /dev/full"
    [ "$status" -eq 1 ]
}

@test "the result does not depend on the thread count (model and bm25)" {
    fixture
    for m in model bm25; do
        ctk-mine-negatives -q -j 1 -M $m --corpus "$TMP/corpus.ctk" --sampling-strategy random \
            --range-max 9 "$TMP/pairs.ctk" | ctk-cat > "$TMP/j1"
        ctk-mine-negatives -q -j 3 -M $m --corpus "$TMP/corpus.ctk" --sampling-strategy random \
            --range-max 9 "$TMP/pairs.ctk" | ctk-cat > "$TMP/j3"
        cmp "$TMP/j1" "$TMP/j3"
    done
}
