#!/usr/bin/env bats
# The plan-build demo (share/examples/Makefile) on the built programs: it
# runs from a clean folder, prints both accuracies, and fine-tuning helps.
load setup

@test "the demo runs and the fine-tuned encoder beats the untrained one" {
    run make -s -f "$SRC/share/examples/Makefile" HERE="$SRC/share/examples" \
        CTK="$CTK_BUILDDIR/bin/" OUT="$TMP/out" THREADS=1 report
    [ "$status" -eq 0 ]
    [[ "$output" == *"untrained accuracy"* ]]
    [[ "$output" == *"fine-tuned accuracy"* ]]
    before=$(echo "$output" | awk '$1 == "untrained" { print $3 }')
    after=$(echo "$output" | awk '$1 == "fine-tuned" { print $3 }')
    echo "untrained $before, fine-tuned $after"
    awk -v a="$before" -v b="$after" 'BEGIN { exit !(b > a && b >= 0.85) }'
    # the confusion matrix counts every test sentence
    [ "$(echo "$output" | awk '$1 == "plan" || $1 == "build" { s += $2 + $3 } END { print s }')" -eq 440 ]
}

@test "the demo's data: at least 16 training and 100 test sentences per class" {
    for c in plan build; do
        [ "$(grep -c "^$c	" "$SRC/share/examples/plan-build/train.tsv")" -ge 16 ]
        [ "$(grep -c "^$c	" "$SRC/share/examples/plan-build/test.tsv")" -ge 100 ]
    done
    # no sentence in both
    [ -z "$(cut -f2 "$SRC/share/examples/plan-build/train.tsv" "$SRC/share/examples/plan-build/test.tsv" | sort | uniq -d)" ]
}
