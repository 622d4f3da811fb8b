#!/usr/bin/env bats
# safetensors files written by ctk, read by an independent reader
# (tests/ref/read_safetensors.py: Python standard library only).
# JSON reading (jansson through lib/json.h) against Python's json module on
# every real model-folder file kept in tests/data, on compact JSON as serde
# writes it, and on Python's ensure_ascii output with surrogate pairs.
load setup

@test "JSON files read as Python's json module reads them" {
    local n=0
    while IFS= read -r f; do
        diff <("$PYTHON3" "$SRC/tests/ref/json_canon.py" "$f") \
             <("$CTK_BUILDDIR/tests/unit/test_model" --canon "$f") || { echo "differs: $f"; return 1; }
        n=$((n + 1))
    done < <(find "$DATA/vocab" "$DATA/json" -name '*.json' | sort)
    [ "$n" -ge 18 ]
}

@test "surrogate pairs become one code point; serde's compact form reads" {
    run "$CTK_BUILDDIR/tests/unit/test_model" --canon "$DATA/json/ensure-ascii.json"
    [ "$status" -eq 0 ]
    [[ "$output" == *'"emoji":"\u{1f600} grinning"'* ]]
    [[ "$output" == *'"\u{1f600}key":1'* ]]
    [[ "$output" == *'"mixed":"caf\u{e9} \u{1d11e} clef"'* ]]
    run "$CTK_BUILDDIR/tests/unit/test_model" --canon "$DATA/json/serde-compact.json"
    [ "$status" -eq 0 ]
    [[ "$output" == '{"version":"1.0","truncation":{"max_length":128,'* ]]
}

@test "malformed JSON is refused with file, line and column" {
    printf '{"a": 1,\n "b": }\n' > "$TMP/bad.json"
    run --separate-stderr "$CTK_BUILDDIR/tests/unit/test_model" --canon "$TMP/bad.json"
    [ "$status" -eq 1 ]
    [[ "$stderr" == "$TMP/bad.json:2:"* ]]
    printf '{"a": 1, "a": 2}' > "$TMP/dup.json"
    run --separate-stderr "$CTK_BUILDDIR/tests/unit/test_model" --canon "$TMP/dup.json"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *duplicate* ]]
}

@test "every dtype ctk writes reads back in the independent reader" {
    "$CTK_BUILDDIR/tests/unit/test_safetensors" --write "$TMP/s.safetensors"
    run "$PYTHON3" "$SRC/tests/ref/read_safetensors.py" "$TMP/s.safetensors"
    [ "$status" -eq 0 ]
    [ "$output" = "f32 F32 [2, 3]
f16 F16 [6]
bf16 BF16 [6]
i32 I32 [3]
i64 I64 [2]
u8 U8 [3]
empty F32 [0, 4]
scalar F32 []
café U8 [1]" ]
    [ "$("$PYTHON3" "$SRC/tests/ref/read_safetensors.py" --meta "$TMP/s.safetensors")" = '{"format": "pt", "note": "\u00e9t\u00e9"}' ]
    run "$PYTHON3" -c '
import sys; sys.path.insert(0, sys.argv[1] + "/tests/ref")
import read_safetensors as r
meta, ts, data = r.load(sys.argv[2])
v = {n: r.values(data, dt, b, e) for n, dt, s, b, e in ts}
import struct
f = list(struct.unpack("<6f", struct.pack("<6f", 1.0, -2.5, 0.1, 65504.0, 1e-8, 3.0)))
assert v["f32"] == f, v["f32"]
assert v["f16"] == list(struct.unpack("<6e", struct.pack("<6e", *f))), v["f16"]
assert v["bf16"] == [1.0, -2.5, 0.10009765625, 65536.0, 1.0011717677116394e-08, 3.0], v["bf16"]
assert v["i32"] == [-1, 0, 2147483647] and v["i64"] == [-5, 1 << 40] and v["u8"] == [97, 98, 99]
assert v["empty"] == [] and v["scalar"] == [0.5]
print("ok")' "$SRC" "$TMP/s.safetensors"
    [ "$status" -eq 0 ]
    [ "$output" = ok ]
}
