#!/usr/bin/env bats
# The label mask over hard negatives: ctk-mine-negatives writes the class of
# each negative (negative.label), ctk-tok leaves it alone, ctk-train-mnrl
# masks, for anchor i, the hard negatives of the batch that have i's label
# (ctk-train-mnrl(1), "What the batches guarantee").
load setup

# Two rows of classes plan and build; each row's negative is a text of the
# other row's class, so for each anchor the only in-batch candidate of its
# own label (its positive aside) is the OTHER row's hard negative.
two_rows() { # two_rows FILE LABEL0 LABEL1: the rows with negative.label LABEL0, LABEL1 ("" : none)
    {
        printf '{"anchor.ids":[1,2,3],"positive.ids":[4,5],"negative.ids":[1000,1001],"label":"plan"%s}\n' \
            "${2:+,\"negative.label\":\"$2\"}"
        printf '{"anchor.ids":[1002,1003],"positive.ids":[1004,1005],"negative.ids":[6,7,8],"label":"build"%s}\n' \
            "${3:+,\"negative.label\":\"$3\"}"
    } | ctk-cat -f jsonl -t stream > "$1"
}

# first_loss FILE: the loss of the one step (lr 0, batch of both rows, same seed)
first_loss() {
    rm -rf "$TMP/m" "$TMP/log.tsv"
    ctk-train-mnrl -q -o "$TMP/m" --steps 1 --batch-size 2 --lr 0 --seed 7 --log "$TMP/log.tsv" "$@"
    awk -F '\t' 'NR == 2 { print $3 }' "$TMP/log.tsv"
}

@test "another row's hard negative of the anchor's label is masked out of its softmax" {
    two_rows "$TMP/none.ctk" "" ""
    two_rows "$TMP/mask.ctk" build plan
    two_rows "$TMP/other.ctk" other other
    two_rows "$TMP/empty.ctk" "" ""
    none=$(first_loss "$TMP/none.ctk")
    mask=$(first_loss "$TMP/mask.ctk")
    other=$(first_loss "$TMP/other.ctk")
    echo "loss: no negative.label $none, masked $mask, labels of no anchor $other"
    # masking drops terms from each softmax: the loss must fall, clearly
    awk -v a="$none" -v b="$mask" 'BEGIN { exit !(b < a - 0.01) }'
    # negatives of a class no anchor has: nothing masked, the very same loss
    [ "$other" = "$none" ]
    # symmetric: the same mask in the anchor -> candidate direction
    none=$(first_loss --symmetric "$TMP/none.ctk")
    mask=$(first_loss --symmetric "$TMP/mask.ctk")
    awk -v a="$none" -v b="$mask" 'BEGIN { exit !(b < a - 0.005) }'
}

@test "empty negative labels and rows without a label column mask nothing" {
    two_rows "$TMP/none.ctk" "" ""
    none=$(first_loss "$TMP/none.ctk")
    printf '%s\n' '{"anchor.ids":[1,2,3],"positive.ids":[4,5],"negative.ids":[1000,1001],"label":"plan","negative.label":""}' \
        '{"anchor.ids":[1002,1003],"positive.ids":[1004,1005],"negative.ids":[6,7,8],"label":"build","negative.label":""}' |
        ctk-cat -f jsonl -t stream > "$TMP/empty.ctk"
    [ "$(first_loss "$TMP/empty.ctk")" = "$none" ]
    # negative.label without the rows' label: nothing to compare with
    two_rows "$TMP/mask.ctk" build plan
    ctk-cat -f jsonl -t stream <(printf '%s\n' \
        '{"anchor.ids":[1,2,3],"positive.ids":[4,5],"negative.ids":[1000,1001],"negative.label":"build"}' \
        '{"anchor.ids":[1002,1003],"positive.ids":[1004,1005],"negative.ids":[6,7,8],"negative.label":"plan"}') > "$TMP/nolab.ctk"
    ctk-cat -f jsonl -t stream <(printf '%s\n' \
        '{"anchor.ids":[1,2,3],"positive.ids":[4,5],"negative.ids":[1000,1001]}' \
        '{"anchor.ids":[1002,1003],"positive.ids":[1004,1005],"negative.ids":[6,7,8]}') > "$TMP/bare.ctk"
    [ "$(first_loss "$TMP/nolab.ctk")" = "$(first_loss "$TMP/bare.ctk")" ]
}

@test "a chunk whose string column holds only empty strings reads back" {
    # (the case of negative.label when every negative of a chunk has two labels)
    printf '%s\n' '{"a":"x","b":""}' '{"a":"y","b":""}' | ctk-cat -f jsonl -t stream > "$TMP/e.ctk"
    [ "$(ctk-cat -c a,b "$TMP/e.ctk")" = "$(printf 'x\t\ny\t')" ]
}

@test "a negative.label that is not a string column is refused" {
    printf '%s\n' '{"anchor.ids":[1,2],"positive.ids":[4],"negative.ids":[9],"label":"a","negative.label":3}' |
        ctk-cat -f jsonl -t stream > "$TMP/bad.ctk"
    run --separate-stderr ctk-train-mnrl -q -o "$TMP/m" --steps 1 "$TMP/bad.ctk"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ "$stderr" == *"negative.label is not a string column"* ]]
    [ ! -e "$TMP/m" ]
}

@test "ctk-tok leaves negative.label untokenised, and the trainer reads it" {
    printf 'anchor\tpositive\tnegative\tnegative.label\tlabel\n' > "$TMP/t.tsv"
    printf 'make a plan\tplan the week\tbuild the shed\tbuild\tplan\n' >> "$TMP/t.tsv"
    printf 'build a wall\tbuild a house\tplan a trip\tplan\tbuild\n' >> "$TMP/t.tsv"
    ctk-tok -q --header "$TMP/t.tsv" > "$TMP/t.ctk"
    ctk-cat --info "$TMP/t.ctk" > "$TMP/info"
    grep -Eq '^  negative\.label +string' "$TMP/info"
    ! grep -q 'negative.label.ids' "$TMP/info"
    grep -q '^  negative\.ids ' "$TMP/info"
    [ "$(ctk-cat -c negative.label "$TMP/t.ctk")" = "$(printf 'build\nplan')" ]
    ctk-train-mnrl -q -o "$TMP/m" --steps 1 "$TMP/t.ctk"
}

G() { echo "$SRC/tests/golden/mine"; }
TOOL() { echo "$CTK_BUILDDIR/tests/unit/emb_tool"; }

@test "ctk-mine-negatives writes each negative's corpus label, none without corpus labels" {
    "$(TOOL)" cols -m fixture 'label:s,text:s,emb:f,ids:i' < "$(G)/corpus.tsv" > "$TMP/corpus.ctk"
    "$(TOOL)" cols -m fixture 'anchor:s,positive:s,label:s,anchor.emb:f,positive.emb:f,anchor.ids:i,positive.ids:i' \
        < "$(G)/pairs.tsv" > "$TMP/pairs.ctk"
    ctk-mine-negatives -q --corpus "$TMP/corpus.ctk" -n 2 -f n-tuple "$TMP/pairs.ctk" > "$TMP/out.ctk"
    ctk-cat -c label,negative,negative.label,negative2,negative2.label "$TMP/out.ctk" > "$TMP/got"
    [ -s "$TMP/got" ]
    # the corpus labels of each text; a text with two labels gets an empty label
    awk -F '\t' 'NR == FNR { if ($2 in lab && lab[$2] != $1) two[$2] = 1; lab[$2] = $1; next }
        { for (k = 2; k <= 4; k += 2) {
            want = ($k in two) ? "" : lab[$k]
            if ($(k + 1) != want) { print "row " FNR ": " $k " labelled \"" $(k + 1) "\" want \"" want "\""; bad = 1 }
            if ($(k + 1) == $1) { print "row " FNR ": negative of the anchor label"; bad = 1 } } }
        END { exit bad }' "$(G)/corpus.tsv" "$TMP/got"
    # a text with two labels occurs among the negatives, so the empty case is exercised
    cut -f3,5 "$TMP/got" | grep -q '^	\|	$'
    # without corpus labels: no negative.label column
    ctk-mine-negatives -q --corpus "$TMP/corpus.ctk" --label-column nolabel "$TMP/pairs.ctk" > "$TMP/nl.ctk"
    ! ctk-cat --info "$TMP/nl.ctk" | grep -q 'negative.label'
}
