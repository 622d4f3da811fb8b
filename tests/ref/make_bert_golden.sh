#!/bin/sh
# make_bert_golden.sh -- remake tests/golden/bert/* with the PyTorch reference.
#
#   tests/ref/make_bert_golden.sh BUILDDIR
#
# The models are ctk-init-model's (seed 1, the same bytes on every machine),
# so only the inputs and the expected outputs are committed; test_bert makes
# the models again at test time. Needs Debian's python3 with torch and numpy.
set -eu
build=${1:?usage: make_bert_golden.sh BUILDDIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
out=$src/tests/golden/bert
ref=$src/tests/ref/bert_ref.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
for preset in tiny minilm-l6; do
    for dtype in f32 f16; do
        "$build/bin/ctk-init-model" -q --preset $preset --seed 1 --dtype $dtype -o "$tmp/$preset-$dtype"
    done
done
# forward: a batch mixing lengths from 1 to 512 tokens, pairs (token types) in odd rows
/usr/bin/python3 "$ref" forward "$tmp/tiny-f32" "$out/tiny.f32.safetensors"
/usr/bin/python3 "$ref" forward "$tmp/tiny-f16" "$out/tiny.f16.safetensors"
/usr/bin/python3 "$ref" forward "$tmp/minilm-l6-f32" "$out/minilm-l6.f32.safetensors" --lengths 1,2,7,31,128,512
/usr/bin/python3 "$ref" forward "$tmp/minilm-l6-f16" "$out/minilm-l6.f16.safetensors" --lengths 1,2,7,31,128,512
# backward: every gradient of the tiny model (embedding tables sampled), a sample for minilm-l6
/usr/bin/python3 "$ref" grad "$tmp/tiny-f32" "$out/tiny.grad.safetensors" --rows 16 --sample-above 256
/usr/bin/python3 "$ref" grad "$tmp/tiny-f32" "$out/tiny.grad-max.safetensors" --rows 16 --sample-above 256 \
    --pooling max --normalize 0
/usr/bin/python3 "$ref" grad "$tmp/minilm-l6-f32" "$out/minilm-l6.grad.safetensors" --rows 1 --elems 16
ls -l "$out"
