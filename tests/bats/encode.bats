#!/usr/bin/env bats
# ctk-encode: token streams to embeddings. The numbers themselves are checked
# against PyTorch by tests/unit/test_bert; here: the program around them
# (columns, metadata, order, batching, threads, pooling of --layer-output,
# refusals, usage).
load setup

setup_file() {
    export MODELS="$BATS_FILE_TMPDIR"
    ctk-init-model -q --preset tiny --seed 1 -o "$MODELS/tiny"
    ctk-init-model -q --preset tiny --seed 2 -o "$MODELS/other"
    ctk-init-model -q --preset tiny --seed 1 --pooling mean_sqrt_len_tokens --no-normalize \
        -o "$MODELS/sqrt"
    printf 'pos\tthe movie was great\nneg\ta dull, boring film\npos\tI loved it\n' > "$MODELS/in.tsv"
    printf 'neg\tthe worst thing ever made, truly awful in every possible way, avoid\n' >> "$MODELS/in.tsv"
    printf 'pos\tok\n' >> "$MODELS/in.tsv"
    ctk-tok -m "$MODELS/tiny" "$MODELS/in.tsv" > "$MODELS/tok.ctk"
}

# max |a - b| over two TSV files of numbers (same shape)
maxdiff() {
    paste "$1" "$2" | awk '{ n = NF / 2; for (i = 1; i <= n; i++) { d = $i - $(i + n); if (d < 0) d = -d; if (d > m) m = d } } END { printf "%.3g\n", m + 0 }'
}

@test "emb column, dimension, model identity and normalisation in the metadata" {
    run pipeline "ctk-encode -m $MODELS/tiny $MODELS/tok.ctk | ctk-cat --info"
    [ "$status" -eq 0 ]
    [[ "$output" == *"emb              dense  F32 [32]"* ]]
    [[ "$output" == *"ids              ragged I32"* ]]
    [[ "$output" == *"label            string U8"* ]]
    [[ "$output" == *"dim: 32"* ]]
    [[ "$output" == *"normalized: yes"* ]]
    [[ "$output" == *"model: tiny@"* ]]
    [[ "$output" == *"ctk-encode -m"* ]]
    [ "$(echo "$output" | grep '^rows:')" = "rows: 5" ]
}

@test "normalised rows have unit length; --no-normalize rows normalise to the same" {
    pipeline "ctk-encode -m $MODELS/tiny $MODELS/tok.ctk | ctk-cat -c emb > $TMP/n.tsv"
    run awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i * $i; d = sqrt(s) - 1; if (d < 0) d = -d; if (d > m) m = d } END { print (m < 1e-6) ? "ok" : m }' "$TMP/n.tsv"
    [ "$output" = "ok" ]
    pipeline "ctk-encode --no-normalize -m $MODELS/tiny $MODELS/tok.ctk | ctk-cat -c emb > $TMP/u.tsv"
    run awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i * $i; if (sqrt(s) > 1.5) big++ } END { print big + 0 }' "$TMP/u.tsv"
    [ "$output" -ge 1 ]
    awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i * $i; s = sqrt(s); for (i = 1; i <= NF; i++) printf "%s%.9g", (i > 1 ? " " : ""), $i / s; print "" }' "$TMP/u.tsv" > "$TMP/un.tsv"
    run maxdiff "$TMP/n.tsv" "$TMP/un.tsv"
    awk -v d="$output" 'BEGIN { exit !(d < 1e-6) }'
    run pipeline "ctk-encode --no-normalize -m $MODELS/tiny $MODELS/tok.ctk | ctk-cat --info"
    [[ "$output" == *"normalized: no"* ]]
}

@test "input order is kept whatever the batch size and threads" {
    pipeline "ctk-encode -m $MODELS/tiny -j 1 $MODELS/tok.ctk | ctk-cat -c label,emb > $TMP/a.tsv"
    for opts in "-b 1" "-b 2 -j 2" "-b 1000 -j 2"; do
        pipeline "ctk-encode -m $MODELS/tiny $opts $MODELS/tok.ctk | ctk-cat -c label,emb > $TMP/b.tsv"
        [ "$(cut -f1 "$TMP/a.tsv")" = "$(cut -f1 "$TMP/b.tsv")" ]
        cut -f2- "$TMP/a.tsv" > "$TMP/a2.tsv"
        cut -f2- "$TMP/b.tsv" > "$TMP/b2.tsv"
        run maxdiff "$TMP/a2.tsv" "$TMP/b2.tsv"
        awk -v d="$output" 'BEGIN { exit !(d <= 1e-6) }'
    done
    # each row encoded alone gives its row of the batch
    pipeline "sed -n 4p $MODELS/in.tsv | ctk-tok -m $MODELS/tiny | ctk-encode -m $MODELS/tiny | ctk-cat -c emb > $TMP/one.tsv"
    sed -n 4p "$TMP/a2.tsv" > "$TMP/a4.tsv"
    run maxdiff "$TMP/one.tsv" "$TMP/a4.tsv"
    awk -v d="$output" 'BEGIN { exit !(d <= 1e-6) }'
}

@test "--layer-output: token embeddings whose mean_sqrt_len pooling is emb" {
    pipeline "ctk-tok -m $MODELS/sqrt $MODELS/in.tsv | ctk-encode -m $MODELS/sqrt --layer-output > $TMP/h.ctk"
    run ctk-cat --info "$TMP/h.ctk"
    [[ "$output" == *"hidden           ragged F32"* ]]
    [[ "$output" == *"normalized: no"* ]]
    ctk-cat -c ids,hidden,emb "$TMP/h.ctk" > "$TMP/h.tsv"
    # hidden holds T x 32 values for T ids; sum over tokens / sqrt(T) = emb
    run awk -F'\t' '{ T = split($1, ids, " "); nh = split($2, h, " "); ne = split($3, e, " ");
        if (nh != T * 32 || ne != 32) { print "bad sizes " T " " nh " " ne; exit }
        for (j = 1; j <= 32; j++) { s = 0; for (t = 0; t < T; t++) s += h[t * 32 + j];
            d = s / sqrt(T) - e[j]; if (d < 0) d = -d; if (d > m) m = d } }
        END { print (m < 1e-5) ? "ok" : m }' "$TMP/h.tsv"
    [ "$output" = "ok" ]
}

@test "every token column of pairs gets its own embedding column" {
    printf 'text1\ttext2\tscore\ngood film\ta great movie\t1\nbad\tterrible\t1\n' > "$TMP/pairs.tsv"
    run pipeline "ctk-tok -m $MODELS/tiny --header $TMP/pairs.tsv | ctk-encode -m $MODELS/tiny | ctk-cat --info"
    [ "$status" -eq 0 ]
    [[ "$output" == *"text1.emb        dense  F32 [32]"* ]]
    [[ "$output" == *"text2.emb        dense  F32 [32]"* ]]
    [[ "$output" == *"score"* ]]
}

@test "sentence pairs: type ids are used" {
    printf 'a\tb\nthe cat\tsat down\n' > "$TMP/p2.tsv"
    pipeline "ctk-tok -m $MODELS/tiny --header --pair a,b $TMP/p2.tsv | ctk-encode -m $MODELS/tiny | ctk-cat -c a.emb > $TMP/pair.tsv"
    pipeline "ctk-tok -m $MODELS/tiny --header --pair a,b $TMP/p2.tsv | ctk-cat -t stream -c a.ids | ctk-encode -m $MODELS/tiny --any-tokens | ctk-cat -c a.emb > $TMP/nopair.tsv"
    [ -s "$TMP/pair.tsv" ]
    [ "$(cat "$TMP/pair.tsv")" != "$(cat "$TMP/nopair.tsv")" ]
}

@test "an empty token stream gives an empty embedding stream" {
    run pipeline "printf '' | ctk-tok -m $MODELS/tiny | ctk-encode -m $MODELS/tiny | ctk-cat --info"
    [ "$status" -eq 0 ]
    [[ "$output" == *"rows: 0"* ]]
    [[ "$output" == *"emb "* ]]
}

@test "tokens made for another model are refused; --any-tokens accepts them" {
    run -1 --separate-stderr ctk-encode -m "$MODELS/other" "$MODELS/tok.ctk"
    [ -z "$output" ]
    [[ "$stderr" == *"ctk-encode:"*"made for model"*"tiny@"* ]]
    run pipeline "ctk-encode -m $MODELS/other --any-tokens $MODELS/tok.ctk | ctk-cat --info"
    [ "$status" -eq 0 ]
    [[ "$output" == *"model: other@"* ]]
}

@test "a sequence longer than the model's positions is refused, naming chunk and row" {
    ctk-init-model -q --preset tiny --seed 1 --max-positions 8 -o "$TMP/short"
    run -1 --separate-stderr ctk-encode -m "$TMP/short" --any-tokens "$MODELS/tok.ctk"
    [ -z "$output" ]
    [[ "$stderr" == *"chunk 1, row 4: 16 tokens"*"more than the model's 8 positions"* ]]
}

@test "bad inputs: not a stream, no token column, missing model" {
    run -1 --separate-stderr ctk-encode -m "$MODELS/tiny" "$MODELS/in.tsv"
    [ -z "$output" ]
    [[ "$stderr" == *"ctk-encode:"* ]]
    ctk-cat "$MODELS/in.tsv" -t stream > "$TMP/text.ctk"
    run -1 --separate-stderr ctk-encode -m "$MODELS/tiny" "$TMP/text.ctk"
    [ -z "$output" ]
    [[ "$stderr" == *"no token column"* ]]
    run -1 --separate-stderr ctk-encode -m "$TMP/nonexistent" "$MODELS/tok.ctk"
    [ -z "$output" ]
    [[ "$stderr" == *"nonexistent"* ]]
    run -1 --separate-stderr ctk-encode -m "$MODELS/tiny" "$TMP/nofile.ctk"
    [ -z "$output" ]
    [[ "$stderr" == *"nofile.ctk"* ]]
}

@test "a truncated stream is an error" {
    head -c 200 "$MODELS/tok.ctk" > "$TMP/trunc.ctk"
    run -1 --separate-stderr ctk-encode -m "$MODELS/tiny" "$TMP/trunc.ctk"
    [[ "$stderr" == *"ctk-encode:"* ]]
}

@test "the built-in n-gram encoder without -m" {
    run pipeline "ctk-tok $MODELS/in.tsv | ctk-encode | ctk-cat --info"
    [ "$status" -eq 0 ]
    [[ "$output" == *"emb "* ]]
    [[ "$output" == *"normalized: yes"* ]]
}

@test "usage errors exit 2 with no output" {
    run --separate-stderr ctk-encode --batch-size 0 -m "$MODELS/tiny" "$MODELS/tok.ctk"
    expect_usage_error
    run --separate-stderr ctk-encode --bogus
    expect_usage_error
    run --separate-stderr ctk-encode -m "$MODELS/tiny" "$MODELS/tok.ctk" "$MODELS/tok.ctk"
    expect_usage_error
    run --separate-stderr ctk-encode -j x
    expect_usage_error
}

@test "--help and --version" {
    run ctk-encode --help
    [ "$status" -eq 0 ]
    [[ "$output" == *"--batch-size"* ]]
    [[ "$output" == *"--no-normalize"* ]]
    run ctk-encode --version
    [ "$status" -eq 0 ]
    [[ "$output" == *"ctk-encode"* ]]
}

@test "OpenBLAS core selection: CTK_BLAS_CORETYPE names the kernels" {
    run env CTK_BLAS_CORETYPE=Haswell ctk-encode --help
    [[ "$output" == *"running now on OpenBLAS's Haswell kernels"* ]]
    run env CTK_BLAS_CORETYPE=Prescott ctk-encode --help
    [[ "$output" == *"running now on OpenBLAS's Prescott kernels"* ]]
    # the user's own OPENBLAS_CORETYPE wins
    run env OPENBLAS_CORETYPE=Haswell CTK_BLAS_CORETYPE=Prescott ctk-encode --help
    [[ "$output" == *"running now on OpenBLAS's Haswell kernels"* ]]
    pipeline "ctk-encode -m $MODELS/tiny $MODELS/tok.ctk | ctk-cat -c emb > $TMP/auto.tsv"
    pipeline "CTK_BLAS_CORETYPE=Haswell ctk-encode -m $MODELS/tiny $MODELS/tok.ctk | ctk-cat -c emb > $TMP/hsw.tsv"
    run maxdiff "$TMP/auto.tsv" "$TMP/hsw.tsv"
    awk -v d="$output" 'BEGIN { exit !(d <= 1e-5) }'
}

@test "CTK_GEMM_KERNEL: sgemm and amx give the default's embeddings, --help names the kernel" {
    pipeline "ctk-encode -m $MODELS/tiny $MODELS/tok.ctk | ctk-cat -c emb > $TMP/def.tsv"
    for k in sgemm amx avx512; do
        pipeline "CTK_GEMM_KERNEL=$k ctk-encode -m $MODELS/tiny $MODELS/tok.ctk | ctk-cat -c emb > $TMP/k.tsv"
        run maxdiff "$TMP/def.tsv" "$TMP/k.tsv"
        awk -v d="$output" 'BEGIN { exit !(d <= 1e-5) }'
    done
    run env CTK_GEMM_KERNEL=sgemm ctk-encode --help
    [[ "$output" == *"products by OpenBLAS's sgemm"* ]]
    run env CTK_GEMM_KERNEL=amx ctk-encode --help
    [[ "$output" == *"products by "* ]]
}

@test "CTK_GEMM_KERNEL: an unknown value is named in a warning and the default is taken" {
    run pipeline "CTK_GEMM_KERNEL=avx ctk-encode -m $MODELS/tiny $MODELS/tok.ctk 2>$TMP/err | ctk-cat -c emb > $TMP/k.tsv"
    [ "$status" -eq 0 ]
    grep -q "CTK_GEMM_KERNEL=avx is none of avx512, sgemm or amx" "$TMP/err"
    pipeline "ctk-encode -m $MODELS/tiny $MODELS/tok.ctk | ctk-cat -c emb > $TMP/def.tsv"
    run maxdiff "$TMP/def.tsv" "$TMP/k.tsv"
    awk -v d="$output" 'BEGIN { exit !(d <= 1e-6) }'
}
