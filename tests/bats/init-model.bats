#!/usr/bin/env bats
# ctk-init-model: the folder layout, Hugging Face names and shapes, the
# initialisation statistics, reproducibility, dtypes, options and errors.
# Weights files are checked with an independent reader
# (tests/ref/read_safetensors.py, Python standard library only) and loaded
# back with ctk's own (tests/unit/test_model --load).
load setup

reader() { "$PYTHON3" "$SRC/tests/ref/read_safetensors.py" "$@"; }
loadmodel() { "$CTK_BUILDDIR/tests/unit/test_model" --load "$@"; }
jget() { "$PYTHON3" -c 'import json,sys; v=json.load(open(sys.argv[1])); [v := v[k if not k.isdigit() else int(k)] for k in sys.argv[2:]]; print(json.dumps(v))' "$@"; }

# The state_dict names and shapes of Hugging Face's BertModel, written out by hand.
bert_names() { # layers hidden intermediate vocab positions
    local L=$1 C=$2 I=$3 V=$4 P=$5
    echo "embeddings.word_embeddings.weight F32 [$V, $C]"
    echo "embeddings.position_embeddings.weight F32 [$P, $C]"
    echo "embeddings.token_type_embeddings.weight F32 [2, $C]"
    echo "embeddings.LayerNorm.weight F32 [$C]"
    echo "embeddings.LayerNorm.bias F32 [$C]"
    for ((l = 0; l < L; l++)); do
        for m in query key value; do
            echo "encoder.layer.$l.attention.self.$m.weight F32 [$C, $C]"
            echo "encoder.layer.$l.attention.self.$m.bias F32 [$C]"
        done
        echo "encoder.layer.$l.attention.output.dense.weight F32 [$C, $C]"
        echo "encoder.layer.$l.attention.output.dense.bias F32 [$C]"
        echo "encoder.layer.$l.attention.output.LayerNorm.weight F32 [$C]"
        echo "encoder.layer.$l.attention.output.LayerNorm.bias F32 [$C]"
        echo "encoder.layer.$l.intermediate.dense.weight F32 [$I, $C]"
        echo "encoder.layer.$l.intermediate.dense.bias F32 [$I]"
        echo "encoder.layer.$l.output.dense.weight F32 [$C, $I]"
        echo "encoder.layer.$l.output.dense.bias F32 [$C]"
        echo "encoder.layer.$l.output.LayerNorm.weight F32 [$C]"
        echo "encoder.layer.$l.output.LayerNorm.bias F32 [$C]"
    done
    echo "pooler.dense.weight F32 [$C, $C]"
    echo "pooler.dense.bias F32 [$C]"
}

@test "ctk-init-model --help lists every option; --version" {
    run --separate-stderr ctk-init-model --help
    [ "$status" -eq 0 ]
    for o in --preset --output --force --layers --hidden --heads --intermediate --vocab-size \
             --max-positions --max-seq-length --vocab --cased --uncased --seed --pooling \
             --no-normalize --dtype --quiet --help --version; do
        [[ "$output" == *"$o"* ]] || { echo "missing $o"; return 1; }
    done
    run ctk-init-model --version
    [ "$status" -eq 0 ]
    [[ "$output" == "ctk-init-model (ctk) "* ]]
}

@test "tiny: the sentence-transformers layout with BertModel's names and shapes" {
    run --separate-stderr ctk-init-model -o "$TMP/m"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    for f in config.json model.safetensors modules.json sentence_bert_config.json \
             config_sentence_transformers.json tokenizer_config.json special_tokens_map.json \
             vocab.txt 1_Pooling/config.json; do
        [ -f "$TMP/m/$f" ] || { echo "missing $f"; return 1; }
    done
    [ -d "$TMP/m/2_Normalize" ]
    cmp "$TMP/m/vocab.txt" "$SRC/share/ctk/bert-base-uncased-vocab.txt"
    diff <(reader "$TMP/m/model.safetensors") <(bert_names 2 32 64 30522 512)
    [ "$(reader --meta "$TMP/m/model.safetensors")" = '{"format": "pt"}' ]
    [ "$(jget "$TMP/m/config.json" model_type)" = '"bert"' ]
    [ "$(jget "$TMP/m/config.json" architectures)" = '["BertModel"]' ]
    [ "$(jget "$TMP/m/config.json" hidden_act)" = '"gelu"' ]
    [ "$(jget "$TMP/m/config.json" position_embedding_type)" = '"absolute"' ]
    [ "$(jget "$TMP/m/config.json" layer_norm_eps)" = '1e-12' ]
    [ "$(jget "$TMP/m/config.json" initializer_range)" = '0.02' ]
    [ "$(jget "$TMP/m/modules.json" 2 type)" = '"sentence_transformers.models.Normalize"' ]
    [ "$(jget "$TMP/m/1_Pooling/config.json" pooling_mode_mean_tokens)" = 'true' ]
    [ "$(jget "$TMP/m/tokenizer_config.json" do_lower_case)" = 'true' ]
    run loadmodel "$TMP/m"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "bert vocab=30522 hidden=32 layers=2 heads=4 intermediate=64 positions=512 types=2 pad=0 eps=1e-12 pooling=mean normalize=1 max_seq_length=512 tensors=39" ]
    [[ "${lines[1]}" == m@???????????????? ]]
}

@test "weights are initialised as BertModel._init_weights does" {
    ctk-init-model -q --seed 3 -o "$TMP/m"
    run reader --stats "$TMP/m/model.safetensors"
    [ "$status" -eq 0 ]
    # name n mean std min max zeros ones
    echo "$output" | awk '
        $1 ~ /LayerNorm.weight$/ { if ($8 != $2) { print "not ones: " $0; bad = 1 } next }
        $1 ~ /(bias)$/           { if ($7 != $2) { print "not zeros: " $0; bad = 1 } next }
        $2 >= 16384              { if ($3 > 0.0005 || $3 < -0.0005 || $4 < 0.0195 || $4 > 0.0205) { print "not N(0, 0.02): " $0; bad = 1 } }
        $1 == "embeddings.word_embeddings.weight" { if ($7 != 32) { print "padding row: " $0; bad = 1 } }
        END { exit bad }'
    # the padding row ([PAD], id 0) is zero
    [ "$(reader --row "$TMP/m/model.safetensors" embeddings.word_embeddings.weight 0 | tr ' ' '\n' | sort -u)" = 0 ]
}

@test "the same seed gives the same bytes; another seed other bytes" {
    ctk-init-model -q --seed 1 -o "$TMP/a"
    ctk-init-model -q --seed 1 -o "$TMP/b"
    ctk-init-model -q --seed 2 -o "$TMP/c"
    cmp "$TMP/a/model.safetensors" "$TMP/b/model.safetensors"
    ! cmp -s "$TMP/a/model.safetensors" "$TMP/c/model.safetensors"
    # ... and the bytes this machine made when the test was written.
    (cd "$TMP/a" && sha256sum -c "$SRC/tests/golden/init-model-tiny-seed1.sha256")
}

@test "--dtype f16 and bf16 store the round-to-nearest-even of the F32 values" {
    ctk-init-model -q --seed 4 --layers 1 -o "$TMP/f32"
    ctk-init-model -q --seed 4 --layers 1 --dtype f16 -o "$TMP/f16"
    ctk-init-model -q --seed 4 --layers 1 --dtype bf16 -o "$TMP/bf16"
    run reader --rounded "$TMP/f32/model.safetensors" "$TMP/f16/model.safetensors"
    [ "$status" -eq 0 ]
    run reader --rounded "$TMP/f32/model.safetensors" "$TMP/bf16/model.safetensors"
    [ "$status" -eq 0 ]
    [ "$(jget "$TMP/f16/config.json" torch_dtype)" = '"float16"' ]
    [ "$(reader "$TMP/bf16/model.safetensors" | head -1)" = "embeddings.word_embeddings.weight BF16 [30522, 32]" ]
    loadmodel "$TMP/f16"
}

@test "dimension options, pooling, normalize and a vocabulary of one's own" {
    printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nThe\nCat\nsat\nOn\nMat\n' > "$TMP/vocab.txt"
    run --separate-stderr ctk-init-model -q --vocab "$TMP/vocab.txt" --layers 1 --hidden 16 \
        --heads 2 --intermediate 24 --max-positions 64 --max-seq-length 40 --pooling cls \
        --no-normalize -o "$TMP/m"
    [ "$status" -eq 0 ]
    diff <(reader "$TMP/m/model.safetensors") <(bert_names 1 16 24 10 64)
    [ "$(jget "$TMP/m/modules.json" | "$PYTHON3" -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 2 ]
    [ ! -e "$TMP/m/2_Normalize" ]
    [ "$(jget "$TMP/m/1_Pooling/config.json" pooling_mode_cls_token)" = true ]
    [ "$(jget "$TMP/m/sentence_bert_config.json" max_seq_length)" = 40 ]
    # capitals in the vocabulary: a cased tokenizer
    [ "$(jget "$TMP/m/tokenizer_config.json" do_lower_case)" = false ]
    cmp "$TMP/vocab.txt" "$TMP/m/vocab.txt"
    run loadmodel "$TMP/m"
    [ "${lines[0]}" = "bert vocab=10 hidden=16 layers=1 heads=2 intermediate=24 positions=64 types=2 pad=0 eps=1e-12 pooling=cls normalize=0 max_seq_length=40 tensors=23" ]
    ctk-init-model -q --vocab "$TMP/vocab.txt" --uncased --layers 1 -o "$TMP/u"
    [ "$(jget "$TMP/u/tokenizer_config.json" do_lower_case)" = true ]
}

@test "minilm-l6: the shapes of all-MiniLM-L6-v2" {
    ctk-init-model -q --preset minilm-l6 --seed 1 -o "$TMP/m"
    diff <(reader "$TMP/m/model.safetensors") <(bert_names 6 384 1536 30522 512)
    run loadmodel "$TMP/m"
    [ "${lines[0]}" = "bert vocab=30522 hidden=384 layers=6 heads=12 intermediate=1536 positions=512 types=2 pad=0 eps=1e-12 pooling=mean normalize=1 max_seq_length=256 tensors=103" ]
    # the same sizes and settings as the real model's config.json
    for k in hidden_size num_hidden_layers num_attention_heads intermediate_size vocab_size \
             max_position_embeddings type_vocab_size layer_norm_eps hidden_act model_type; do
        [ "$(jget "$TMP/m/config.json" $k)" = "$(jget "$DATA/vocab/all-MiniLM-L6-v2/config.json" $k)" ] ||
            { echo "config.json $k differs"; return 1; }
    done
    cmp <(jget "$TMP/m/1_Pooling/config.json" pooling_mode_mean_tokens) \
        <(jget "$DATA/vocab/all-MiniLM-L6-v2/1_Pooling/config.json" pooling_mode_mean_tokens)
}

@test "tiny-mpnet: MPNetModel's names, no token types, a relative attention bias" {
    "$PYTHON3" -c 'import json; v = ["<s>", "<pad>", "</s>", "<unk>"] + ["t%d" % i for i in range(12)] + ["<mask>"]
json.dump({"model": {"type": "WordPiece", "vocab": {t: i for i, t in enumerate(v)}}}, open("'"$TMP"'/tokenizer.json", "w"))'
    ctk-init-model -q --preset tiny-mpnet --vocab "$TMP/tokenizer.json" -o "$TMP/m"
    run reader "$TMP/m/model.safetensors"
    [ "${lines[0]}" = "embeddings.word_embeddings.weight F32 [17, 32]" ]
    [ "${lines[1]}" = "embeddings.position_embeddings.weight F32 [514, 32]" ]
    [ "${lines[4]}" = "encoder.layer.0.attention.attn.q.weight F32 [32, 32]" ]
    [[ "$output" == *"encoder.layer.1.attention.LayerNorm.bias F32 [32]"* ]]
    [[ "$output" == *"encoder.relative_attention_bias.weight F32 [32, 4]"* ]]
    [[ "$output" != *token_type* ]]
    # padding_idx 1 in both embeddings
    [ "$(reader --row "$TMP/m/model.safetensors" embeddings.position_embeddings.weight 1 | tr ' ' '\n' | sort -u)" = 0 ]
    [ "$(reader --row "$TMP/m/model.safetensors" embeddings.word_embeddings.weight 1 | tr ' ' '\n' | sort -u)" = 0 ]
    cmp "$TMP/tokenizer.json" "$TMP/m/tokenizer.json"
    run loadmodel "$TMP/m"
    [ "${lines[0]}" = "mpnet vocab=17 hidden=32 layers=2 heads=4 intermediate=64 positions=514 types=0 pad=1 eps=1e-05 pooling=mean normalize=1 max_seq_length=512 tensors=39" ]
}

@test "a non-empty folder is kept unless --force" {
    mkdir -p "$TMP/w/m"
    echo precious > "$TMP/w/m/notes"
    run --separate-stderr ctk-init-model -q -o "$TMP/w/m"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [[ "$stderr" == "ctk-init-model: $TMP/w/m exists and is not empty"* ]]
    [ "$(cat "$TMP/w/m/notes")" = precious ]
    run ctk-init-model -q --force -o "$TMP/w/m"
    [ "$status" -eq 0 ]
    [ ! -e "$TMP/w/m/notes" ]
    [ -f "$TMP/w/m/model.safetensors" ]
    # nothing left beside it
    [ "$(ls -A "$TMP/w")" = m ]
    # an empty folder is fine
    mkdir "$TMP/e"
    ctk-init-model -q -o "$TMP/e"
}

@test "usage errors exit 2 with a message and no output" {
    local bad=(
        "" "--preset huge -o $TMP/x" "--heads 5 -o $TMP/x" "--layers 0 -o $TMP/x"
        "--hidden abc -o $TMP/x" "--dtype f8 -o $TMP/x" "--seed -1 -o $TMP/x"
        "--pooling median -o $TMP/x" "--max-seq-length 600 -o $TMP/x" "--vocab-size 10 -o $TMP/x"
        "--preset tiny-mpnet -o $TMP/x" "--bogus -o $TMP/x" "-o $TMP/x extra"
    )
    for args in "${bad[@]}"; do
        run --separate-stderr ctk-init-model $args
        expect_usage_error || { echo "args: $args"; return 1; }
        [[ "$stderr" == ctk-init-model:* ]] || { echo "args: $args: $stderr"; return 1; }
        [ ! -e "$TMP/x" ]
    done
}

@test "runtime errors exit 1 naming the file" {
    run --separate-stderr ctk-init-model --vocab "$TMP/none.txt" -o "$TMP/x"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"$TMP/none.txt"* ]]
    [ ! -e "$TMP/x" ]
    CTK_DATA="$TMP/nowhere" run --separate-stderr ctk-init-model -o "$TMP/x"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"$TMP/nowhere/bert-base-uncased-vocab.txt"*"--vocab"* ]]
    touch "$TMP/file"
    run --separate-stderr ctk-init-model -q -o "$TMP/file"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"not a folder"* ]]
}
