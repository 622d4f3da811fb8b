#!/bin/bash
# bench/tok/run.sh -- throughput of ctk-tok against Hugging Face's tokenizers
# on the same text in the same run: the Rust crate (npm binding
# @anush008/tokenizers) and the JavaScript one (@huggingface/transformers,
# local files only), single-threaded and with 2 threads; then, with MEM=1,
# ctk-tok's peak resident memory on a 1 GB input.
#
# Usage: bench/tok/run.sh [BUILDDIR]
#   BUILDDIR    where ctk was built (default: .); its bin/ctk-tok and ctk-cat
#   MB=50       size of the English text (lines of ../shared/data's TSVs, repeated)
#   MODEL=DIR   model folder with tokenizer.json (default shared/vocab/bert-base-uncased)
#   REF=DIR     folder with the npm packages installed (default: tests/ref;
#               cd tests/ref && npm install)
#   MEM=1       also measure memory on 1 GB (written to $WORK, removed after)
#   WORK=DIR    scratch folder (default /tmp/ctk-bench-tok)
# Times are wall-clock: run it on an idle machine.
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
B=$(cd "${1:-.}" && pwd)
MB=${MB:-50}
SHARED=${SHARED:-$SRC/../shared}
MODEL=${MODEL:-$SHARED/vocab/bert-base-uncased}
REF=${REF:-$SRC/tests/ref}
WORK=${WORK:-/tmp/ctk-bench-tok}
export NODE_PATH=$REF/node_modules
mkdir -p "$WORK"
TXT=$WORK/english-$MB.txt

if [ ! -s "$TXT" ]; then
    cat "$SHARED"/data/*/*.tsv | awk -F'\t' '{print $NF}' > "$WORK/base.txt"
    : > "$TXT"
    while [ "$(stat -c %s "$TXT")" -lt $((MB * 1000000)) ]; do cat "$WORK/base.txt" >> "$TXT"; done
    head -c $((MB * 1000000)) "$TXT" | sed '$d' > "$TXT.tmp" && mv "$TXT.tmp" "$TXT"
fi
BYTES=$(stat -c %s "$TXT")
TOKENS=$("$B/bin/ctk-tok" -q -m "$MODEL" -f lines --max-length 0 "$TXT" | "$B/bin/ctk-cat" | wc -w)
echo "text: $TXT, $BYTES bytes, $(wc -l < "$TXT") lines, $TOKENS tokens (bert-base-uncased ids with [CLS]/[SEP])"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

now() { date +%s.%N; }
declare -A SEC
run_ctk() {
    local t0 t1
    t0=$(now)
    "$B/bin/ctk-tok" -q -m "$MODEL" -f lines --max-length 0 -j "$1" "$TXT" > /dev/null
    t1=$(now)
    SEC[ctk$1]=$(echo "$t1 - $t0" | bc -l)
}
run_ref() {  # impl threads
    local line
    if [ "$1" = rust ] && [ "$2" = 1 ]; then
        line=$(TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1 node "$SRC/bench/tok/bench_ref.js" rust "$MODEL" "$TXT" 1)
    elif [ "$1" = rust ]; then
        line=$(TOKENIZERS_PARALLELISM=true RAYON_NUM_THREADS=$2 node "$SRC/bench/tok/bench_ref.js" rust "$MODEL" "$TXT" "$2")
    else
        line=$(node "$SRC/bench/tok/bench_ref.js" js "$MODEL" "$TXT" "$2")
    fi
    set -- $line
    [ "$5" = "$TOKENS" ] || { echo "token counts differ: $1 $5, ctk-tok $TOKENS" >&2; exit 1; }
    SEC[$1$2]=$3
}
for j in 1 2; do
    run_ctk $j
    run_ref rust $j
    run_ref js $j
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %7s %8s %9s %12s %10s %10s\n' impl threads seconds MB/s tokens/s ctk/this per-thread
for j in 1 2; do
    for impl in ctk rust js; do
        s=${SEC[$impl$j]}
        name=$impl
        [ $impl = ctk ] && name="ctk-tok"
        [ $impl = rust ] && name="HF tokenizers (Rust, npm)"
        [ $impl = js ] && name="HF transformers.js"
        printf '%-28s %7d %8.2f %9.2f %12.0f %9.2fx %9.0f\n' "$name" $j "$s" \
            "$(echo "$BYTES / 1000000 / $s" | bc -l)" "$(echo "$TOKENS / $s" | bc -l)" \
            "$(echo "$s / ${SEC[ctk$j]}" | bc -l)" "$(echo "$TOKENS / $s / $j" | bc -l)"
    done
done
printf 'ctk-tok scaling 1 -> 2 threads: %.2fx\n' "$(echo "${SEC[ctk1]} / ${SEC[ctk2]}" | bc -l)"

if [ "${MEM:-0}" = 1 ]; then
    BIG=$WORK/big.txt
    : > "$BIG"
    while [ "$(stat -c %s "$BIG")" -lt 1000000000 ]; do cat "$TXT" >> "$BIG"; done
    echo "memory on $(stat -c %s "$BIG") bytes:"
    for j in 1 2; do
        /usr/bin/time -f "  ctk-tok -f lines -j $j: %e s, max RSS %M KB" \
            "$B/bin/ctk-tok" -q -m "$MODEL" -f lines --max-length 0 -j $j "$BIG" > /dev/null
    done
    awk '{print "label\t" $0}' "$TXT" > "$WORK/l.tsv"
    : > "$WORK/big.tsv"
    while [ "$(stat -c %s "$WORK/big.tsv")" -lt 1000000000 ]; do cat "$WORK/l.tsv" >> "$WORK/big.tsv"; done
    /usr/bin/time -f "  ctk-tok TSV -j 2: %e s, max RSS %M KB" \
        "$B/bin/ctk-tok" -q -m "$MODEL" -j 2 "$WORK/big.tsv" > /dev/null
    /usr/bin/time -f "  ctk-tok TSV | ctk-cat (stream read back) : %e s, max RSS %M KB" \
        bash -c "'$B/bin/ctk-tok' -q -m '$MODEL' -j 2 '$WORK/big.tsv' | '$B/bin/ctk-cat' -q --info > /dev/null"
    rm -f "$BIG" "$WORK/big.tsv" "$WORK/l.tsv"
fi
