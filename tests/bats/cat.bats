#!/usr/bin/env bats
# ctk-cat: conversions between streams, TSV, JSON Lines and .npy; --info;
# the command line's errors.
load setup

U() { echo "$DATA/cat/unicode.tsv"; }

@test "TSV -> stream -> TSV is byte-identical (Unicode, invalid UTF-8, empty lines, CR, backslashes)" {
    pipeline "ctk-cat -t stream < '$(U)' | ctk-cat > '$TMP/out.tsv'"
    cmp "$(U)" "$TMP/out.tsv"
}

@test "files, stdin and '-' give the same stream rows" {
    pipeline "ctk-cat -t stream '$(U)' | ctk-cat > '$TMP/a'"
    pipeline "cat '$(U)' | ctk-cat - | ctk-cat > '$TMP/b'"
    cmp "$TMP/a" "$TMP/b"
    cmp "$(U)" "$TMP/a"
}

@test "one-field text with empty lines; a last line without newline gets one" {
    printf 'first line\n\n\nlast' > "$TMP/in.txt"
    pipeline "ctk-cat < '$TMP/in.txt' | ctk-cat > '$TMP/out.txt'"
    printf 'first line\n\n\nlast\n' | cmp - "$TMP/out.txt"
    pipeline "ctk-cat < '$TMP/in.txt' | ctk-cat -c id,text > '$TMP/ids.txt'"
    printf '1\tfirst line\n2\t\n3\t\n4\tlast\n' | cmp - "$TMP/ids.txt"
}

@test "a long line (2 MB) round trips" {
    head -c 1500000 /dev/zero | tr '\0' 'x' > "$TMP/long.tsv"
    printf '\tand more\nshort\tline\n' >> "$TMP/long.tsv"
    pipeline "ctk-cat -t stream '$TMP/long.tsv' | ctk-cat > '$TMP/out.tsv'"
    cmp "$TMP/long.tsv" "$TMP/out.tsv"
}

@test "-f lines and -t lines: whole lines, tabs and all, byte for byte" {
    printf 'a\tb\tc\n\none\ttab\r\nno tab\n' > "$TMP/l.txt"
    pipeline "ctk-cat -f lines '$TMP/l.txt' | ctk-cat -t lines > '$TMP/o'"
    cmp "$TMP/l.txt" "$TMP/o"
    pipeline "ctk-cat -f lines -t tsv '$TMP/l.txt' > '$TMP/o'"
    printf 'a\\tb\\tc\n\none\\ttab\r\nno tab\n' | cmp - "$TMP/o"
}

@test "three fields are label, text1, text2; --header names columns" {
    printf '5.000\tA man.\tA person.\n0.5\tx\ty\n' > "$TMP/sts.tsv"
    run --separate-stderr ctk-cat --info "$TMP/sts.tsv"
    [ "$status" -eq 0 ]
    [[ "$output" == *"label "*"text1 "*"text2 "* ]]
    pipeline "ctk-cat '$TMP/sts.tsv' | ctk-cat -c text2,label > '$TMP/o'"
    printf 'A person.\t5.000\ny\t0.5\n' | cmp - "$TMP/o"
    printf 'score\tsentence1\tsentence2\n' | cat - "$TMP/sts.tsv" > "$TMP/h.tsv"
    pipeline "ctk-cat --header '$TMP/h.tsv' | ctk-cat --header > '$TMP/o'"
    cmp "$TMP/h.tsv" "$TMP/o"
    pipeline "ctk-cat --header '$TMP/h.tsv' | ctk-cat -c id,score > '$TMP/o'"
    printf '2\t5.000\n3\t0.5\n' | cmp - "$TMP/o"
    pipeline "ctk-cat --names score,anchor,positive '$TMP/sts.tsv' | ctk-cat -c positive > '$TMP/o'"
    printf 'A person.\ny\n' | cmp - "$TMP/o"
}

@test "a line with another field count is an error naming the line" {
    printf 'a\tb\nc\td\te\n' > "$TMP/bad.tsv"
    run --separate-stderr ctk-cat -t tsv "$TMP/bad.tsv"
    [ "$status" -eq 1 ]
    [[ "$stderr" == "ctk-cat: $TMP/bad.tsv:2: 3 fields where 2 are expected"* ]]
}

@test "gzip input is read by its magic bytes, whatever its name" {
    gzip -c "$(U)" > "$TMP/in.data"
    pipeline "ctk-cat -t stream '$TMP/in.data' | gzip > '$TMP/s.gz'"
    pipeline "ctk-cat '$TMP/s.gz' > '$TMP/out.tsv'"
    cmp "$(U)" "$TMP/out.tsv"
}

@test "gzip: files larger than the read buffer, several gzip members in one file" {
    seq 1 300000 > "$TMP/n.txt"
    { head -n 1000 "$TMP/n.txt" | gzip; tail -n +1001 "$TMP/n.txt" | gzip; } > "$TMP/n.gz"
    pipeline "ctk-cat '$TMP/n.gz' | ctk-cat > '$TMP/o'"
    cmp "$TMP/n.txt" "$TMP/o"
    head -c 20000 "$TMP/n.gz" > "$TMP/cut.gz"
    run --separate-stderr ctk-cat -t tsv "$TMP/cut.gz"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"truncated gzip data"* ]]
}

@test "several files are one table: ids continue; --renumber and --id-offset" {
    printf 'a\nb\n' > "$TMP/1.txt"
    printf 'c\n' > "$TMP/2.txt"
    pipeline "ctk-cat '$TMP/1.txt' '$TMP/2.txt' | ctk-cat -c id,text > '$TMP/o'"
    printf '1\ta\n2\tb\n3\tc\n' | cmp - "$TMP/o"
    pipeline "ctk-cat --id-offset 1000 '$TMP/2.txt' | ctk-cat -c id > '$TMP/o'"
    echo 1001 | cmp - "$TMP/o"
    # two shards made apart both start at 1; cat keeps them, --renumber rewrites
    pipeline "ctk-cat '$TMP/1.txt' > '$TMP/s1'; ctk-cat '$TMP/2.txt' > '$TMP/s2'"
    pipeline "cat '$TMP/s1' '$TMP/s2' | ctk-cat -c id > '$TMP/o'"
    printf '1\n2\n1\n' | cmp - "$TMP/o"
    pipeline "cat '$TMP/s1' '$TMP/s2' | ctk-cat --renumber -t stream | ctk-cat -c id,text > '$TMP/o'"
    printf '1\ta\n2\tb\n3\tc\n' | cmp - "$TMP/o"
}

@test "JSON Lines: to a stream and back exactly; tab and newline in TSV as \\t and \\n" {
    printf '%s\n' '{"text":"tab\there\nnewline \"quoted\" back\\slash é","score":0.5,"ids":[101,-7,102]}' \
                  '{"text":"","score":-2,"ids":[]}' > "$TMP/in.jsonl"
    pipeline "ctk-cat -f jsonl '$TMP/in.jsonl' | ctk-cat -t jsonl > '$TMP/o.jsonl'"
    cmp "$TMP/in.jsonl" "$TMP/o.jsonl"
    pipeline "ctk-cat -f jsonl -t tsv '$TMP/in.jsonl' > '$TMP/o.tsv'"
    printf '%s\t0.5\t101 -7 102\n\t-2\t\n' 'tab\there\nnewline "quoted" back\slash é' | cmp - "$TMP/o.tsv"
}

@test "JSON Lines refuses text that is not UTF-8" {
    printf 'ok\t\xff\n' > "$TMP/bad.tsv"
    run --separate-stderr bash -c "ctk-cat '$TMP/bad.tsv' | ctk-cat -t jsonl"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"not UTF-8"* ]]
}

# A 2x3 float32 array as NumPy writes it: the header is typed out here.
npy_header() {
    printf "\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" "$1"
    printf '%*s\n' "$2" ''
}

@test ".npy: read, written byte for byte with NumPy's header, to a file and to a pipe" {
    # 1.5 -2 0.1 / 3 0 -0.25 as little-endian float32
    { npy_header "2, 3" 58
      printf '\x00\x00\xc0\x3f\x00\x00\x00\xc0\xcd\xcc\xcc\x3d\x00\x00\x40\x40\x00\x00\x00\x00\x00\x00\x80\xbe'
    } > "$TMP/a.npy"
    [ "$(head -c 128 "$TMP/a.npy" | tail -c 1)" = "" ]   # header ends with a newline at byte 128
    run --separate-stderr ctk-cat -f npy -t tsv "$TMP/a.npy"
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf '1.5 -2 0.100000001\n3 0 -0.25')" ]
    pipeline "ctk-cat -f npy '$TMP/a.npy' > '$TMP/a.ctk'"
    ctk-cat -t npy "$TMP/a.ctk" > "$TMP/b.npy"
    cmp "$TMP/a.npy" "$TMP/b.npy"
    pipeline "ctk-cat -t npy -c emb '$TMP/a.ctk' | cat > '$TMP/c.npy'"
    cmp "$TMP/a.npy" "$TMP/c.npy"
    printf 'x' > "$TMP/d.npy"
    ctk-cat -t npy "$TMP/a.ctk" >> "$TMP/d.npy"
    { printf 'x'; cat "$TMP/a.npy"; } | cmp - "$TMP/d.npy"
    pipeline "ctk-cat -c id '$TMP/a.ctk' > '$TMP/ids'"
    printf '1\n2\n' | cmp - "$TMP/ids"
    pipeline "ctk-cat -f npy --names coords -c coords -t tsv '$TMP/a.npy' > '$TMP/o'"
    printf '1.5 -2 0.100000001\n3 0 -0.25\n' | cmp - "$TMP/o"
}

@test ".npy round trip against NumPy (optional: needs /usr/bin/python3 with numpy)" {
    /usr/bin/python3 -c 'import numpy' 2>/dev/null || skip "numpy not installed"
    /usr/bin/python3 -c '
import numpy as np, sys
r = np.random.default_rng(7)
np.save(sys.argv[1], r.standard_normal((37, 5)).astype(np.float32))
np.save(sys.argv[2], r.integers(-2**40, 2**40, 11))
np.save(sys.argv[3], r.standard_normal(9))' "$TMP/f.npy" "$TMP/i.npy" "$TMP/d.npy"
    pipeline "ctk-cat -f npy '$TMP/f.npy' | ctk-cat -t npy > '$TMP/f2.npy'"
    cmp "$TMP/f.npy" "$TMP/f2.npy"
    pipeline "ctk-cat -f npy '$TMP/i.npy' | ctk-cat -t npy > '$TMP/i2.npy'"
    cmp "$TMP/i.npy" "$TMP/i2.npy"
    pipeline "ctk-cat -f npy '$TMP/d.npy' | ctk-cat -t npy > '$TMP/d2.npy'"
    /usr/bin/python3 -c '
import numpy as np, sys
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert b.dtype == np.float32 and (a.astype(np.float32) == b).all()' "$TMP/d.npy" "$TMP/d2.npy"
    # TSV floats read back to the same float32
    pipeline "ctk-cat -f npy -t tsv '$TMP/f.npy' > '$TMP/f.tsv'"
    /usr/bin/python3 -c '
import numpy as np, sys
a = np.load(sys.argv[1]); t = np.loadtxt(sys.argv[2], dtype=np.float32)
assert (a == t).all()' "$TMP/f.npy" "$TMP/f.tsv"
}

@test "--info describes schema, rows, chunks and history" {
    pipeline "ctk-cat -t stream '$(U)' | ctk-cat -c text -t stream > '$TMP/s'"
    run --separate-stderr ctk-cat --info "$TMP/s"
    [ "$status" -eq 0 ]
    [[ "$output" == *"(ctk stream)"* ]]
    [[ "$output" == *"rows: 15"* ]]
    [[ "$output" == *"chunks: 1"* ]]
    [[ "$output" == *"text             string U8"* ]]
    [[ "$output" == *"1 ctk-cat -t stream "*"2 ctk-cat -c text -t stream"* ]]
}

@test "a stream to a stream keeps the metadata, merges members and appends to the history" {
    pipeline "ctk-cat '$(U)' > '$TMP/a'"
    pipeline "cat '$TMP/a' '$TMP/a' | ctk-cat -t stream -c text,label > '$TMP/b'"
    run --separate-stderr ctk-cat --info "$TMP/b"
    [[ "$output" == *"rows: 30"* ]]
    [[ "$output" == *"columns: 2"* ]]
    [[ "$output" == *"2 ctk-cat -t stream -c text,label"* ]]
}

@test "ctk cat runs ctk-cat" {
    run ctk cat --version
    [ "$status" -eq 0 ]
    [[ "$output" == "ctk-cat (ctk) "* ]]
}

@test "--help lists every option" {
    run ctk-cat --help
    [ "$status" -eq 0 ]
    for o in --to --from --columns --header --names --id-offset --renumber --info --quiet --help --version; do
        [[ "$output" == *"$o"* ]] || { echo "missing $o"; return 1; }
    done
}

@test "bad invocations: exit 2, a message, nothing on stdout" {
    printf 'a\tb\n' > "$TMP/x.tsv"
    while IFS='|' read -r args msg; do
        run --separate-stderr bash -c "ctk-cat $args"
        expect_usage_error || { echo "ctk-cat $args"; return 1; }
        [[ "$stderr" == "ctk-cat: "*"$msg"* ]] || { echo "ctk-cat $args: $stderr"; return 1; }
        [[ "$stderr" == *"Try 'ctk-cat --help'"* ]]
    done <<EOF
--bogus|unrecognized option
-t xml $TMP/x.tsv|unknown output format 'xml'
-f csv $TMP/x.tsv|unknown input format 'csv'
-c '' $TMP/x.tsv|-c needs a list
-c nope $TMP/x.tsv|no column 'nope' (it has: id, label, text)
-c text,text $TMP/x.tsv|named twice
--header --names a,b $TMP/x.tsv|give one
--info -t tsv $TMP/x.tsv|--info describes the input
--id-offset -3 $TMP/x.tsv|--id-offset '-3'
--id-offset x $TMP/x.tsv|--id-offset 'x'
-t npy $TMP/x.tsv|-t npy writes one dense column
--names a,,b $TMP/x.tsv|a column name cannot be empty
-f jsonl --header $TMP/x.tsv|--header is for TSV
-f jsonl --names a $TMP/x.tsv|--names is for TSV and .npy
-f npy --names a,b $TMP/x.tsv|one column to name
-f lines --names a $TMP/x.tsv|-f lines reads each whole line
-t lines $TMP/x.tsv|-t lines writes one string column
EOF
}

@test "--renumber without an I64 id column is a usage error" {
    printf 'id\ttext\nx\ty\n' > "$TMP/x.tsv"
    run --separate-stderr ctk-cat --header --renumber "$TMP/x.tsv"
    expect_usage_error
    [[ "$stderr" == *"--renumber needs an I64 'id' column"* ]]
}

@test "a missing file: exit 1, message, nothing on stdout" {
    run --separate-stderr ctk-cat "$TMP/none.tsv"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ "$stderr" == "ctk-cat: cannot open $TMP/none.tsv: No such file or directory" ]]
}

@test "a full disk is a failure (exit 1)" {
    run --separate-stderr bash -c "ctk-cat -t stream '$(U)' > /dev/full"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"ctk-cat: "*"No space left on device"* ]]
    run --separate-stderr bash -c "ctk-cat -t tsv '$(U)' > /dev/full"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"No space left on device"* ]]
}

@test "a binary stream is not written to a terminal" {
    command -v script >/dev/null || skip "script(1) not installed"
    run script -qec "ctk-cat -t stream '$(U)'" /dev/null
    [ "$status" -eq 2 ]
    [[ "$output" == *"refusing to write a binary stream to a terminal"* ]]
    run script -qec "ctk-cat '$(U)'" /dev/null
    [ "$status" -eq 2 ]
    run script -qec "ctk-cat -t tsv '$(U)' > /dev/null" /dev/null
    [ "$status" -eq 0 ]
}
