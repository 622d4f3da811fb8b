#!/usr/bin/env bats
# tests/bats/tok.bats -- ctk-tok: ids equal to Hugging Face's Rust tokenizers
# (expected ids in tests/data/tok, made by tests/ref/tok_ref.js), the input
# forms, pairs, truncation, invalid UTF-8, the built-in featuriser, and bad
# invocations (exit code, message, empty stdout).

load setup

# unpack NAME: the tokenizer files of tests/data/tok/models/NAME into $TMP/NAME
unpack() {
    mkdir -p "$TMP/$1"
    for f in "$DATA/tok/models/$1"/*.gz; do
        b=$(basename "$f" .gz)
        gzip -dc "$f" > "$TMP/$1/$b"
    done
    M="$TMP/$1"
}

@test "ctk-tok --help lists the options and exits 0" {
    run --separate-stderr ctk-tok --help
    [ "$status" -eq 0 ]
    [[ "$output" == *"Usage: ctk-tok"* ]]
    [[ "$output" == *"--max-length"* ]]
    [[ "$output" == *"--utf8=MODE"* ]]
}

@test "ctk-tok --version" {
    run ctk-tok --version
    [ "$status" -eq 0 ]
    [[ "$output" == ctk-tok* ]]
}

@test "TSV text: the ids of bert-base-uncased" {
    unpack bert-base-uncased
    run pipeline "printf 'Hello, world!\n' | ctk-tok -m '$M' | ctk-cat"
    [ "$status" -eq 0 ]
    [ "$output" = "101 7592 1010 2088 999 102" ]
}

@test "the whole conformance corpus through the program, -j 1 and -j 2 (vocab.txt route, cased)" {
    unpack bert-base-cased
    gzip -dc "$DATA/tok/conformance.txt.gz" > "$TMP/c.txt"
    gzip -dc "$DATA/tok/conformance.bert-base-cased.ids.gz" > "$TMP/want"
    pipeline "ctk-tok -q -m '$M' -f lines --max-length 0 -j 1 '$TMP/c.txt' | ctk-cat > '$TMP/got1'"
    pipeline "ctk-tok -q -m '$M' -f lines --max-length 0 -j 2 '$TMP/c.txt' | ctk-cat > '$TMP/got2'"
    cmp "$TMP/got1" "$TMP/want"
    cmp "$TMP/got2" "$TMP/want"
}

@test "many chunks: -j 3 gives the rows of -j 1, in input order" {
    unpack bert-base-uncased
    gzip -dc "$DATA/tok/conformance.txt.gz" > "$TMP/c.txt"
    for i in 1 2 3 4; do cat "$TMP/c.txt"; done > "$TMP/c4.txt"
    pipeline "ctk-tok -q -m '$M' -f lines --max-length 0 -j 1 '$TMP/c4.txt' | ctk-cat > '$TMP/j1'"
    pipeline "ctk-tok -q -m '$M' -f lines --max-length 0 -j 3 '$TMP/c4.txt' | ctk-cat > '$TMP/j3'"
    gzip -dc "$DATA/tok/conformance.bert-base-uncased.ids.gz" > "$TMP/want1"
    for i in 1 2 3 4; do cat "$TMP/want1"; done > "$TMP/want"
    cmp "$TMP/j1" "$TMP/want"
    cmp "$TMP/j3" "$TMP/want"
    run pipeline "ctk-tok -q -m '$M' -f lines -j 3 '$TMP/c4.txt' | ctk-cat --info"
    [[ "$output" == *"chunks: 3"* ]]
}

@test "truncation: --max-length 4 keeps [CLS], 2 tokens, [SEP]; the model's max_seq_length is the default" {
    unpack all-MiniLM-L6-v2
    run pipeline "printf 'Hello, world!\n' | ctk-tok -m '$M' --max-length 4 | ctk-cat"
    [ "$output" = "101 7592 1010 102" ]
    run pipeline "printf 'Hello\n' | ctk-tok -m '$M' | ctk-cat --info"
    [[ "$output" == *"max_length: 256"* ]]
}

@test "the default length: config.json's positions without a sentence-transformers config; 0_Transformer layout" {
    unpack bert-base-cased
    printf '{"model_type": "bert", "max_position_embeddings": 512}\n' > "$M/config.json"
    run pipeline "printf 'Hello\n' | ctk-tok -m '$M' | ctk-cat --info"
    [[ "$output" == *"max_length: 512"* ]]
    mkdir -p "$TMP/old/0_Transformer"
    cp "$M"/* "$TMP/old/0_Transformer/"
    printf '{"max_seq_length": 128}\n' > "$TMP/old/0_Transformer/sentence_bert_config.json"
    run pipeline "printf 'Hello\n' | ctk-tok -m '$TMP/old' | ctk-cat --info"
    [[ "$output" == *"max_length: 128"* ]]
    run pipeline "printf 'Hello\n' | ctk-tok -m '$TMP/old' | ctk-cat"
    [ "$output" = "101 8667 102" ]
}

@test "--no-special-tokens" {
    unpack bert-base-uncased
    run pipeline "printf 'Hello, world!\n' | ctk-tok -m '$M' --no-special-tokens | ctk-cat"
    [ "$output" = "7592 1010 2088 999" ]
}

@test "--show prints the tokens" {
    unpack bert-base-uncased
    run pipeline "printf 'The [MASK] sat.\nunaffable\n' | ctk-tok -m '$M' --show"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "[CLS] the [MASK] sat . [SEP]" ]
    [ "${lines[1]}" = "[CLS] una ##ffa ##ble [SEP]" ]
}

@test "invalid UTF-8 is replaced (one warning with count and first line): ab\\xFFcd" {
    unpack bert-base-uncased
    printf 'ok\nab\xffcd\nx\xc0\xafy\n' > "$TMP/bad.txt"
    run --separate-stderr pipeline "ctk-tok -m '$M' '$TMP/bad.txt' | ctk-cat"
    [ "$status" -eq 0 ]
    [ "${lines[1]}" = "101 5925 2094 102" ]
    [ "$stderr" = "ctk-tok: 3 invalid UTF-8 sequences replaced with U+FFFD (first on line 2); --utf8=strict makes this an error" ]
}

@test "--utf8=strict: an error naming the line, no output" {
    unpack bert-base-uncased
    printf 'ok\nab\xffcd\n' > "$TMP/bad.txt"
    run --separate-stderr ctk-tok -m "$M" --utf8=strict -f lines "$TMP/bad.txt"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ "$stderr" == *"line 2: invalid UTF-8"* ]]
}

@test "-j 2 over many chunks: errors and warnings name the first bad line in input order" {
    unpack bert-base-uncased
    # 4096 lines a chunk: bad bytes on line 5000 (chunk 2) and line 13000 (chunk 4)
    seq 1 16000 | awk '{ if (NR == 5000 || NR == 13000) printf "ab\377cd\n"; else print "line " $1 }' > "$TMP/big.txt"
    [ "$(grep -c cd "$TMP/big.txt")" -eq 2 ]
    run --separate-stderr ctk-tok -m "$M" -f lines -j 2 "$TMP/big.txt"
    [ "$status" -eq 0 ]
    [ "$stderr" = "ctk-tok: 2 invalid UTF-8 sequences replaced with U+FFFD (first on line 5000); --utf8=strict makes this an error" ]
    run --separate-stderr sh -c "ctk-tok -m '$M' -f lines -j 2 --utf8=strict '$TMP/big.txt' > '$TMP/part'"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"line 5000: invalid UTF-8"* ]]
    # the chunk before the error was written; the stream has no end: a reader refuses it
    run --separate-stderr ctk-cat "$TMP/part"
    [ "$status" -eq 1 ]
    [ "$(printf '%s\n' "$output" | wc -l)" -eq 4096 ]
}

@test "--show with -j 3 over many chunks prints the lines of -j 1" {
    unpack bert-base-uncased
    gzip -dc "$DATA/tok/conformance.txt.gz" > "$TMP/c.txt"
    for i in 1 2 3 4; do cat "$TMP/c.txt"; done > "$TMP/c4.txt"
    ctk-tok -q -m "$M" -f lines --show -j 1 "$TMP/c4.txt" > "$TMP/s1"
    ctk-tok -q -m "$M" -f lines --show -j 3 "$TMP/c4.txt" > "$TMP/s3"
    [ "$(wc -l < "$TMP/s1")" -eq "$(wc -l < "$TMP/c4.txt")" ]
    cmp "$TMP/s1" "$TMP/s3"
}

@test "-f lines: a whole line with tabs is one text; empty lines stay as rows" {
    unpack bert-base-uncased
    run pipeline "printf 'a\tb\n\nc\n' | ctk-tok -m '$M' -f lines | ctk-cat"
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 3 ]
    [ "${lines[0]}" = "101 1037 1038 102" ]
    [ "${lines[1]}" = "101 102" ]
}

@test "label<TAB>text: the label is kept, the text dropped unless --keep-text" {
    unpack bert-base-uncased
    run pipeline "printf 'pos\tHello\n' | ctk-tok -m '$M' | ctk-cat --header"
    [ "${lines[0]}" = "label	ids" ]
    [ "${lines[1]}" = "pos	101 7592 102" ]
    run pipeline "printf 'pos\tHello\n' | ctk-tok -m '$M' --keep-text | ctk-cat --header"
    [ "${lines[0]}" = "label	text	ids" ]
}

@test "pairs: --pair text1,text2 gives ids and type ids (BERT and MPNet templates)" {
    unpack bert-base-uncased
    run pipeline "printf 'pos\tHello\tworld\n' | ctk-tok -m '$M' --pair text1,text2 | ctk-cat --header"
    [ "${lines[0]}" = "label	text1.ids	text1.type_ids" ]
    [ "${lines[1]}" = "pos	101 7592 102 2088 102	0 0 0 1 1" ]
    unpack all-mpnet-base-v2
    run pipeline "printf 'pos\tHello\tworld\n' | ctk-tok -m '$M' --pair text1,text2 | ctk-cat -c text1.ids"
    [ "$output" = "0 7596 2 2 2092 2" ]
}

@test "a stream of anchor/positive texts: each text column is tokenised" {
    unpack bert-base-uncased
    run pipeline "printf 'Hello\tworld\n' | ctk-cat -t stream --names anchor,positive | ctk-tok -m '$M' | ctk-cat --header"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "anchor.ids	positive.ids" ]
    [ "${lines[1]}" = "101 7592 102	101 2088 102" ]
}

@test "no -m: the built-in n-gram encoder's features, and its identity as the model" {
    run pipeline "printf 'Hello world\n' | ctk-tok | ctk-cat --info"
    [ "$status" -eq 0 ]
    [[ "$output" == *"model: ctk-ngram"* ]]
    [[ "$output" == *"ids "*"ragged I32"* ]]
}

@test "bad invocations are usage errors (exit 2, no output)" {
    run --separate-stderr ctk-tok --bogus
    expect_usage_error
    run --separate-stderr ctk-tok --utf8=latin1
    expect_usage_error
    [[ "$stderr" == *"--utf8 must be replace or strict"* ]]
    run --separate-stderr ctk-tok --pair text1
    expect_usage_error
    run --separate-stderr ctk-tok --max-length -3
    expect_usage_error
    run --separate-stderr ctk-tok -f lines --header
    expect_usage_error
}

@test "a missing model folder, a missing column, an unsupported tokenizer.json: exit 1 naming it" {
    run --separate-stderr ctk-tok -m "$TMP/nope" < /dev/null
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ "$stderr" == *"no tokenizer.json or vocab.txt"* ]]
    unpack bert-base-uncased
    run --separate-stderr pipeline "printf 'a\n' | ctk-tok -m '$M' --pair text1,text2"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"no column 'text1'"* ]]
    mkdir -p "$TMP/bad"
    sed 's/"BertPreTokenizer"/"Whitespace"/' "$M/tokenizer.json" > "$TMP/bad/tokenizer.json"
    run --separate-stderr ctk-tok -m "$TMP/bad" < /dev/null
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"pre_tokenizer Whitespace is not supported"* ]]
}

@test "a failed write is a failure" {
    unpack bert-base-uncased
    run pipeline "printf 'a\n' | ctk-tok -m '$M' > /dev/full"
    [ "$status" -ne 0 ]
}
