#!/bin/sh
# make_mpnet_golden.sh -- remake tests/golden/mpnet/* with the PyTorch reference.
#
#   tests/ref/make_mpnet_golden.sh BUILDDIR
#
# The models are ctk-init-model's (seed 1, the all-mpnet-base-v2 tokenizer of
# tests/data/tok: the same bytes on every machine), so only inputs and
# expected outputs are committed; the tests make the models again. Training
# fixtures use the model with dropout off (the reference has none).
# Needs Debian's python3 with torch and numpy.
set -eu
build=${1:?usage: make_mpnet_golden.sh BUILDDIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
out=$src/tests/golden/mpnet
ref=$src/tests/ref/mpnet_ref.py
data=$src/tests/data/train/mpnet-triplets.jsonl
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
gzip -dc "$src/tests/data/tok/models/all-mpnet-base-v2/tokenizer.json.gz" > "$tmp/tokenizer.json"
for preset in tiny-mpnet mpnet-base; do
    "$build/bin/ctk-init-model" -q --preset $preset --seed 1 --vocab "$tmp/tokenizer.json" -o "$tmp/$preset"
done
# forward: a batch mixing lengths from 1 to 512 tokens, a <pad> inside the longer ones
/usr/bin/python3 "$ref" forward "$tmp/tiny-mpnet" "$out/tiny-mpnet.safetensors"
/usr/bin/python3 "$ref" embed "$tmp/tiny-mpnet" "$src/tests/data/mpnet/ids.jsonl" "$out/tiny-mpnet-embed.tsv"
/usr/bin/python3 "$ref" forward "$tmp/mpnet-base" "$out/mpnet-base.safetensors" --lengths 1,2,7,31,128,512
# training: dropout off
for preset in tiny-mpnet mpnet-base; do
    sed -i 's/"attention_probs_dropout_prob": [0-9.]*/"attention_probs_dropout_prob": 0.0/;
            s/"hidden_dropout_prob": [0-9.]*/"hidden_dropout_prob": 0.0/' "$tmp/$preset/config.json"
done
for loss in mnrl cosine triplet; do
    /usr/bin/python3 "$ref" train "$tmp/tiny-mpnet" "$data" "$out/grad-tiny-mpnet-$loss.safetensors" --grad --loss $loss
done
/usr/bin/python3 "$ref" train "$tmp/mpnet-base" "$data" "$out/grad-mpnet-base-mnrl.safetensors" --grad --rows 1
/usr/bin/python3 "$ref" shrink "$out/grad-mpnet-base-mnrl.safetensors" --elems 64
/usr/bin/python3 "$ref" train "$tmp/tiny-mpnet" "$data" "$out/tiny-mpnet-mnrl.tsv" --lr 2e-4
/usr/bin/python3 "$ref" train "$tmp/mpnet-base" "$data" "$out/mpnet-base-mnrl.tsv" --lr 1e-6
ls -l "$out"
