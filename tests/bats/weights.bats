#!/usr/bin/env bats
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
