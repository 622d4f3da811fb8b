#!/usr/bin/env bats
# The stream format as other programs see it: the Python reader of
# ctk-stream(5) (standard library only), concatenation, and damaged streams
# (cut at every byte offset, bytes flipped) read through ctk-cat.
load setup

# A small stream of every column kind: strings, I64 ids, F32 scalar,
# ragged I32 and ragged F32 (from JSON Lines), two chunks.
sample() {
    printf '%s\n' '{"text":"héllo\tworld","score":0.5,"ids":[101,7,102],"v":[1.5,-2]}' \
                  '{"text":"","score":-1,"ids":[],"v":[]}' \
                  '{"text":"日本","score":3,"ids":[5],"v":[0.25]}' > "$TMP/s.jsonl"
    ctk-cat -f jsonl -t stream "$TMP/s.jsonl" > "$1"
}

@test "the Python reader of ctk-stream(5) reads what ctk writes" {
    sample "$TMP/s.ctk"
    run --separate-stderr "${PYTHON3:-python3}" "$SRC/tests/ref/stream_reader.py" < "$TMP/s.ctk"
    [ "$status" -eq 0 ]
    expected='{"id": 1, "text": "héllo\tworld", "score": 0.5, "ids": [101, 7, 102], "v": [1.5, -2.0]}
{"id": 2, "text": "", "score": -1.0, "ids": [], "v": []}
{"id": 3, "text": "日本", "score": 3.0, "ids": [5], "v": [0.25]}'
    [ "$output" = "$expected" ] || { echo "$output"; return 1; }
}

@test "the Python reader reads concatenated streams and dense 2-D columns" {
    { printf "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }"
      printf '%*s\n' 58 ''
      printf '\x00\x00\xc0\x3f\x00\x00\x00\xc0\x00\x00\x80\x3e\x00\x00\x00\x00'; } > "$TMP/a.npy"
    pipeline "ctk-cat -f npy '$TMP/a.npy' > '$TMP/a.ctk'"
    pipeline "cat '$TMP/a.ctk' '$TMP/a.ctk' | '${PYTHON3:-python3}' '$SRC/tests/ref/stream_reader.py' > '$TMP/o'"
    printf '%s\n' '{"id": 1, "emb": [1.5, -2.0]}' '{"id": 2, "emb": [0.25, 0.0]}' \
                  '{"id": 1, "emb": [1.5, -2.0]}' '{"id": 2, "emb": [0.25, 0.0]}' | cmp - "$TMP/o"
}

@test "cat of two streams reads as one; a later member's history does not matter" {
    printf 'a\nb\n' | ctk-cat > "$TMP/1.ctk"
    printf 'c\n' | ctk-cat -t stream --id-offset 2 > "$TMP/2.ctk"
    pipeline "cat '$TMP/1.ctk' '$TMP/2.ctk' | ctk-cat -c id,text > '$TMP/o'"
    printf '1\ta\n2\tb\n3\tc\n' | cmp - "$TMP/o"
    # several files on the command line are the same as cat
    pipeline "ctk-cat -c id,text '$TMP/1.ctk' '$TMP/2.ctk' > '$TMP/o2'"
    cmp "$TMP/o" "$TMP/o2"
}

@test "streams with different schemas do not concatenate" {
    printf 'a\n' | ctk-cat > "$TMP/1.ctk"
    printf 'l\tb\n' | ctk-cat > "$TMP/2.ctk"
    run --separate-stderr bash -c "cat '$TMP/1.ctk' '$TMP/2.ctk' | ctk-cat"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"stream member 2"*"cannot follow the previous one: it has 3 columns, the first member 2"* ]]
}

# check_damaged FILE WHAT: ctk-cat must exit 1 with a message naming a record.
check_damaged() {
    ctk-cat "$1" > "$TMP/out" 2> "$TMP/err"
    local rc=$?
    [ "$rc" -eq 1 ] || { echo "$2: exit $rc"; return 1; }
    grep -Eq '^ctk-cat: .*(chunk [0-9]+|header record|end record)' "$TMP/err" ||
        { echo "$2: $(cat "$TMP/err")"; return 1; }
}

@test "a stream cut at every byte offset is an error naming the record" {
    sample "$TMP/s.ctk"
    size=$(stat -c %s "$TMP/s.ctk")
    for ((i = 1; i < size; i++)); do
        head -c "$i" "$TMP/s.ctk" > "$TMP/cut"
        check_damaged "$TMP/cut" "cut at $i" || return 1
    done
}

@test "a stream with any byte flipped is an error naming the record" {
    sample "$TMP/s.ctk"
    size=$(stat -c %s "$TMP/s.ctk")
    for ((i = 0; i < size; i++)); do
        cp "$TMP/s.ctk" "$TMP/flip"
        orig=$(od -An -tu1 -j "$i" -N1 "$TMP/s.ctk")
        printf "\\$(printf %o $(( (orig ^ 0x21) & 255 )))" |
            dd of="$TMP/flip" bs=1 seek="$i" conv=notrunc status=none
        check_damaged "$TMP/flip" "flip at $i" || return 1
    done
}

@test "an empty input is empty text (no rows), not a damaged stream" {
    run --separate-stderr bash -c "ctk-cat < /dev/null | ctk-cat"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
}

@test "the reader printed in ctk-stream(5) is tests/ref/stream_reader.py" {
    awk '/^\.SH READING A STREAM IN PYTHON/{f=1} f&&/^\.ft CR/{p=1;next} p&&/^\.ft R/{exit} p' \
        "$SRC/man/ctk-stream.5" | sed 's/\\-/-/g; s/\\\\/\\/g' > "$TMP/man.py"
    tail -n +4 "$SRC/tests/ref/stream_reader.py" | diff - "$TMP/man.py"
}

@test "the worked example of ctk-stream(5) is what ctk-cat writes" {
    cd "$TMP"
    printf 'pos\tgood film\nneg\tbad\n' > ex.tsv
    ctk-cat -t stream ex.tsv > ex.ctk
    [ "$(stat -c %s ex.ctk)" -eq 914 ]
    [ "$(od -An -tx1 -N16 ex.ctk | tr -d ' \n')" = "8943544b0d0a1a0a5001000000000000" ]
    grep -aq '"crc32":"8b34140b","kind":"header"' ex.ctk
    grep -aq '"crc32":"82b558fc","kind":"chunk","chunk":"1","rows":"2"},"id":{"dtype":"I64","shape":\[2\],"data_offsets":\[0,16\]}' ex.ctk
    grep -aq '"crc32":"ed57e899","kind":"end","rows":"2","chunks":"1"}}' ex.ctk
    [ "$(od -An -tx1 -j 744 -N 22 ex.ctk | tr -d ' \n')" = "01000000000000000200000000000000706f736e6567" ]
}

@test "the man pages format without warnings" {
    command -v groff >/dev/null || skip "groff not installed"
    for m in ctk-cat.1 ctk-stream.5 ctk.7; do
        run groff -man -Tutf8 -ww -z "$SRC/man/$m"
        [ "$status" -eq 0 ] && [ -z "$output" ] || { echo "$m: $output"; return 1; }
    done
}

@test "shards converted apart and merged in order get their line numbers back with --renumber" {
    seq 1 1000 | sed 's/^/line /' > "$TMP/all.txt"
    (cd "$TMP" && split -l 300 all.txt part.)
    for p in "$TMP"/part.??; do ctk-cat -t stream "$p" > "$p.ctk"; done
    pipeline "cat '$TMP'/part.??.ctk | ctk-cat --renumber -c id,text > '$TMP/merged'"
    pipeline "ctk-cat '$TMP/all.txt' | ctk-cat -c id,text > '$TMP/whole'"
    cmp "$TMP/whole" "$TMP/merged"
    if command -v parallel >/dev/null; then
        pipeline "parallel --pipe -k --block 2k ctk-cat -t stream < '$TMP/all.txt' | ctk-cat --renumber -c id,text > '$TMP/par'"
        cmp "$TMP/whole" "$TMP/par"
    fi
}
