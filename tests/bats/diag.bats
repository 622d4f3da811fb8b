#!/usr/bin/env bats
# ctk-diag: planted pathologies (made by tests/diag-gen) are each detected
# and named, a healthy two-cluster set yields no verdict; options, formats
# and bad invocations.
load setup

gen() {
    "$CTK_BUILDDIR/tests/diag-gen" "$@"
}

# symptoms NAMED in the YAML report of the last run, one line
symptoms() {
    printf '%s\n' "$output" | sed -n 's/^- symptom: //p' | tr '\n' ' '
}

@test "a healthy two-cluster set yields no verdict" {
    gen healthy > "$TMP/h.ctk"
    run ctk-diag -q "$TMP/h.ctk"
    [ "$status" -eq 0 ]
    [[ "$output" == *"verdict: no symptom found"* ]]
    run ctk-diag -q --format yaml --fail-on any "$TMP/h.ctk"
    [ "$status" -eq 0 ]
    [[ "$output" == *"verdicts: []"* ]]
}

@test "collapse is detected and named, with its evidence" {
    gen collapse > "$TMP/c.ctk"
    run ctk-diag -q -f yaml "$TMP/c.ctk"
    [ "$status" -eq 0 ]
    [ "$(symptoms)" = "collapse " ]
    [[ "$output" == *"evidence: mean cosine of random pairs 0.99"* ]]
    [[ "$output" == *"fix: check negatives exist; increase batch diversity"* ]]
}

@test "an anisotropic cone is detected and named" {
    gen cone > "$TMP/c.ctk"
    run ctk-diag -q -f yaml "$TMP/c.ctk"
    [ "$(symptoms)" = "anisotropy " ]
}

@test "two overlapping classes are detected and named" {
    gen overlap > "$TMP/o.ctk"
    run ctk-diag -q -f yaml "$TMP/o.ctk"
    [ "$(symptoms)" = "class-overlap " ]
    [[ "$output" == *"rows have a 10-NN majority in"* ]]
}

@test "a dominant class is detected and named" {
    gen dominant > "$TMP/d.ctk"
    run ctk-diag -q -f yaml "$TMP/d.ctk"
    [ "$(symptoms)" = "class-dominance " ]
    [[ "$output" == *"evidence: class 'big' has 360 rows (90.0%), class 'small' 40 (10.0%), ratio 9.0:1 >= 4:1"* ]]
}

@test "a pair stream of 10 negatives to 1 positive is detected and named" {
    gen healthy > "$TMP/h.ctk"
    gen pairs 550 > "$TMP/p.ctk"
    run ctk-diag -q -f yaml --pairs "$TMP/p.ctk" "$TMP/h.ctk"
    [ "$(symptoms)" = "pair-imbalance " ]
    [[ "$output" == *"500 negative pairs to 50 positive, ratio 10.0:1"* ]]
    gen pairs-ok 550 > "$TMP/q.ctk"
    run ctk-diag -q -f yaml --pairs "$TMP/q.ctk" "$TMP/h.ctk"
    [ "$(symptoms)" = "" ]
    [[ "$output" == *"positive_pairs: 275"* ]]
}

@test "negatives as similar as the positives are named as false negatives" {
    gen healthy > "$TMP/h.ctk"
    gen pairs-fn 600 > "$TMP/p.ctk"
    run ctk-diag -q -f yaml --pairs "$TMP/p.ctk" "$TMP/h.ctk"
    [ "$(symptoms)" = "false-negatives " ]
    [[ "$output" == *"60 of 300 negative pairs (20.0%, >= 10%) are at least as similar as the mean positive pair"* ]]
    [[ "$output" == *"fix: audit pairs; mine true hard negatives"* ]]
}

@test "NaN rows are counted, left out and named" {
    gen nan > "$TMP/n.ctk"
    run ctk-diag -q -f yaml "$TMP/n.ctk"
    [ "$(symptoms)" = "nan " ]
    [[ "$output" == *"nonfinite_rows: 8"* ]]
    [[ "$output" == *"rows_used: 392"* ]]
}

@test "a drop in STS Spearman after fine-tuning is reported as forgetting" {
    gen healthy > "$TMP/h.ctk"
    gen sts-good 300 > "$TMP/good.ctk"
    gen sts-bad 300 > "$TMP/bad.ctk"
    run ctk-diag -q -f yaml --sts "$TMP/bad.ctk" --compare "$TMP/h.ctk" --sts-before "$TMP/good.ctk" "$TMP/h.ctk"
    [ "$(symptoms)" = "forgetting " ]
    run ctk-diag -q --sts "$TMP/good.ctk" --compare "$TMP/h.ctk" --sts-before "$TMP/bad.ctk" "$TMP/h.ctk"
    [ "$status" -eq 0 ]
    [[ "$output" == *"verdict: no symptom found"* ]]
    [[ "$output" == *"STS Spearman (cosine vs gold)"* ]]
    [[ "$output" == *"before"*"after"*"delta"* ]]
}

@test "--fail-on exits 1 on a named symptom found, 0 on others" {
    gen collapse > "$TMP/c.ctk"
    run --separate-stderr ctk-diag -q --fail-on collapse "$TMP/c.ctk"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"ctk-diag: collapse found (--fail-on)"* ]]
    [[ "$output" == *"collapse"* ]]
    run ctk-diag -q --fail-on class-overlap,forgetting "$TMP/c.ctk"
    [ "$status" -eq 0 ]
}

@test "--format json is JSON with the same verdicts" {
    gen dominant > "$TMP/d.ctk"
    run ctk-diag -q --format json "$TMP/d.ctk"
    [ "$status" -eq 0 ]
    [[ "$output" == "{"* ]]
    [[ "$output" == *'"symptom": "class-dominance"'* ]]
    [[ "$output" == *'"knn_accuracy": 1.0'* ]]
}

@test "pairwise figures over a stated sample; same seed, same report" {
    gen healthy 1000 > "$TMP/h.ctk"
    run ctk-diag -q -f yaml --sample-pairs 4950 --seed 3 "$TMP/h.ctk"
    [[ "$output" == *"sample_rows: 100"* ]]
    [[ "$output" == *"sample_pairs: 4950"* ]]
    [[ "$output" == *"sample_exact: false"* ]]
    first="$output"
    run ctk-diag -q -f yaml --sample-pairs 4950 --seed 3 "$TMP/h.ctk"
    [ "$output" = "$first" ]
    run ctk-diag -q -f yaml --sample-pairs 4950 --seed 4 "$TMP/h.ctk"
    [ "$output" != "$first" ]
}

@test "reads stdin and through ctk" {
    gen cone > "$TMP/c.ctk"
    run pipeline "ctk diag -q -f yaml < '$TMP/c.ctk'"
    [ "$status" -eq 0 ]
    [[ "$output" == *"symptom: anisotropy"* ]]
}

@test "--help lists every option; --version" {
    run ctk-diag --help
    [ "$status" -eq 0 ]
    for o in --pairs --sts --compare --pairs-before --sts-before --format --fail-on \
             --sample-pairs --seed --neighbours --column --label-column --threads --quiet; do
        [[ "$output" == *"$o"* ]] || { echo "missing $o"; return 1; }
    done
    run ctk-diag --version
    [[ "$output" == "ctk-diag (ctk) "* ]]
}

@test "usage errors exit 2 with a message and no output" {
    run --separate-stderr ctk-diag --fail-on collapsed x
    expect_usage_error
    [[ "$stderr" == *"ctk-diag: --fail-on: unknown symptom 'collapsed'"* ]]
    run --separate-stderr ctk-diag --format xml x
    expect_usage_error
    [[ "$stderr" == *"--format must be text, yaml or json; you gave 'xml'"* ]]
    run --separate-stderr ctk-diag -k 0 x
    expect_usage_error
    run --separate-stderr ctk-diag --sample-pairs nope x
    expect_usage_error
    run --separate-stderr ctk-diag --sts-before a x
    expect_usage_error
    [[ "$stderr" == *"give --compare BEFORE"* ]]
    run --separate-stderr ctk-diag --compare - -
    expect_usage_error
    run --separate-stderr ctk-diag a b
    expect_usage_error
    run --separate-stderr ctk-diag --no-such-option
    expect_usage_error
}

@test "bad inputs exit 1 with a message naming the file and no output" {
    gen healthy > "$TMP/h.ctk"
    gen pairs > "$TMP/p.ctk"
    run --separate-stderr ctk-diag --column vec "$TMP/h.ctk"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ "$stderr" == *"ctk-diag: $TMP/h.ctk has no 'vec' column (it has: emb, label)"* ]]
    run --separate-stderr ctk-diag "$TMP/p.ctk"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ "$stderr" == *"has no 'emb' column"* ]]
    run --separate-stderr ctk-diag --pairs "$TMP/h.ctk" "$TMP/h.ctk"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ "$stderr" == *"(--pairs) has neither anchor.emb/positive.emb nor text1.emb/text2.emb"* ]]
    printf 'not a stream\n' > "$TMP/bad"
    run --separate-stderr ctk-diag "$TMP/bad"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ "$stderr" == "ctk-diag: "* ]]
    run --separate-stderr ctk-diag "$TMP/missing.ctk"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    head -c 300 "$TMP/h.ctk" > "$TMP/trunc.ctk"
    run --separate-stderr ctk-diag "$TMP/trunc.ctk"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
}

@test "a failed write is a failure" {
    gen healthy > "$TMP/h.ctk"
    run bash -c "ctk-diag -q '$TMP/h.ctk' > /dev/full"
    [ "$status" -eq 1 ]
}

@test "the report's figures equal numpy/scipy/scikit-learn's on the committed fixture" {
    fx="$SRC/tests/golden/diag/random.txt"
    gen fixture "$fx" > "$TMP/f.ctk"
    run ctk-diag -q -f yaml -k 5 "$TMP/f.ctk"
    [ "$status" -eq 0 ]
    printf '%s\n' "$output" > "$TMP/f.yaml"
    # report key = fixture key; |got - want| <= 1e-6 + 1e-6 |want|
    for kv in mean_cosine=mean_cos total_variance=total_variance top1_share=top1 \
              effective_rank=erank uniformity=uniformity label_alignment=label_alignment \
              silhouette=silhouette knn_accuracy=knn_acc; do
        got=$(awk -v k="${kv%%=*}:" '/^metrics:/ { m = 1; next } /^[^ ]/ { m = 0 } m && $1 == k { print $2 }' "$TMP/f.yaml")
        want=$(awk -v k="${kv#*=}" '$1 == k { print $3 }' "$fx")
        awk -v g="$got" -v w="$want" -v k="${kv%%=*}" 'BEGIN {
            d = g - w; if (d < 0) d = -d; a = w < 0 ? -w : w
            if (g == "" || d > 1e-6 + 1e-6 * a) { print k ": got " g " want " w; exit 1 } }'
    done
}
