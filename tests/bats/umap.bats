#!/usr/bin/env bats
# ctk-umap, ctk-cluster and ctk-plot on Gaussian blobs made here.
load setup

# blobs N D: three labelled Gaussian blobs (label<TAB>x1 ... xD), fixed seed
blobs() {
    awk -v n="$1" -v d="$2" 'BEGIN {
        srand(7)
        for (i = 0; i < n; i++) {
            k = i % 3; printf "b%d\t", k
            for (j = 0; j < d; j++) {
                u = rand(); v = rand(); if (u < 1e-12) u = 1e-12
                g = sqrt(-2 * log(u)) * cos(6.283185307 * v)
                c = (j == k) ? 6 : 0
                printf "%s%.6f", (j ? " " : ""), c + g * 0.7
            }
            printf "\n"
        }
    }'
}

emb() { "$CTK_BUILDDIR/tests/unit/emb_tool" tsv; }

# share of rows whose 2-D point is nearer its own label's centroid than any other
centroid_agreement() {
    ctk-cat -c label,coords "$1" | awk -F'\t' '
        { split($2, p, " "); lab[NR] = $1; x[NR] = p[1]; y[NR] = p[2]; sx[$1] += p[1]; sy[$1] += p[2]; n[$1]++ }
        END {
            for (l in n) { cx[l] = sx[l] / n[l]; cy[l] = sy[l] / n[l] }
            for (i = 1; i <= NR; i++) {
                best = ""; bd = 1e300
                for (l in n) { d = (x[i]-cx[l])^2 + (y[i]-cy[l])^2; if (d < bd) { bd = d; best = l } }
                ok += (best == lab[i])
            }
            printf "%.4f\n", ok / NR
        }'
}

setup_file() {
    export TMPF="$BATS_FILE_TMPDIR"
    blobs 300 16 | emb > "$TMPF/blobs.stream"
}

@test "ctk-umap --help lists every option" {
    run ctk-umap --help
    [ "$status" -eq 0 ]
    for o in --column --n-neighbors --n-components --min-dist --spread --n-epochs --learning-rate \
             --negative-sample-rate --repulsion-strength --metric --init --seed --save-model --transform \
             --exact-max --threads; do
        [[ "$output" == *"$o"* ]] || { echo "missing $o"; return 1; }
    done
}

@test "ctk-umap separates three blobs, keeps ids and labels, and is repeatable with a seed" {
    pipeline "ctk-umap --seed 1 '$TMPF/blobs.stream' > '$TMP/a.stream'"
    pipeline "ctk-umap --seed 1 < '$TMPF/blobs.stream' > '$TMP/b.stream'"
    diff <(ctk-cat -c coords "$TMP/a.stream") <(ctk-cat -c coords "$TMP/b.stream")
    run ctk-cat --info "$TMP/a.stream"
    [[ "$output" == *"coords"*"F32"* ]]
    [[ "$output" != *" emb "* ]]
    [ "$(ctk-cat -c id "$TMP/a.stream" | wc -l)" -eq 300 ]
    diff <(ctk-cat -c id,label "$TMPF/blobs.stream") <(ctk-cat -c id,label "$TMP/a.stream")
    [ "$(ctk-cat -c coords "$TMP/a.stream" | awk '{print NF}' | sort -u)" = 2 ]
    agree=$(centroid_agreement "$TMP/a.stream")
    echo "centroid agreement $agree"
    awk -v a="$agree" 'BEGIN { exit !(a >= 0.98) }'
}

@test "ctk-umap: cosine metric, random init, more dimensions, NN-descent" {
    pipeline "ctk-umap --seed 2 --metric cosine --init random -d 3 --exact-max 100 '$TMPF/blobs.stream' > '$TMP/c.stream'"
    [ "$(ctk-cat -c coords "$TMP/c.stream" | awk '{print NF}' | sort -u)" = 3 ]
    pipeline "ctk-umap --seed 2 --exact-max 100 '$TMPF/blobs.stream' > '$TMP/d.stream'"
    agree=$(centroid_agreement "$TMP/d.stream")
    echo "NN-descent centroid agreement $agree"
    awk -v a="$agree" 'BEGIN { exit !(a >= 0.98) }'
}

@test "ctk-umap --save-model then --transform places new points with their blob" {
    pipeline "ctk-umap --seed 3 --save-model '$TMP/m.st' '$TMPF/blobs.stream' > '$TMP/fit.stream'"
    [ -s "$TMP/m.st" ]
    blobs 60 16 | emb > "$TMP/new.stream"
    pipeline "ctk-umap --seed 3 --transform '$TMP/m.st' '$TMP/new.stream' > '$TMP/new.umap'"
    # each new point must be nearer the centroid of its own blob in the fitted embedding
    ctk-cat -c label,coords "$TMP/fit.stream" > "$TMP/fit.tsv"
    ctk-cat -c label,coords "$TMP/new.umap" > "$TMP/new.tsv"
    agree=$(awk -F'\t' 'NR == FNR { split($2, p, " "); sx[$1] += p[1]; sy[$1] += p[2]; n[$1]++; next }
        { split($2, p, " "); best = ""; bd = 1e300
          for (l in n) { d = (p[1]-sx[l]/n[l])^2 + (p[2]-sy[l]/n[l])^2; if (d < bd) { bd = d; best = l } }
          ok += (best == $1); tot++ }
        END { printf "%.4f", ok / tot }' "$TMP/fit.tsv" "$TMP/new.tsv")
    echo "transform agreement $agree"
    awk -v a="$agree" 'BEGIN { exit !(a >= 0.95) }'
}

@test "ctk-umap refuses bad input and bad options" {
    run --separate-stderr ctk-umap -c nosuch "$TMPF/blobs.stream"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"no column 'nosuch'"*"emb"* ]]
    [ -z "$output" ]
    run --separate-stderr ctk-umap -k 1 "$TMPF/blobs.stream"
    expect_usage_error
    run --separate-stderr ctk-umap --init pca "$TMPF/blobs.stream"
    expect_usage_error
    run --separate-stderr ctk-umap --save-model a --transform b
    expect_usage_error
    blobs 5 16 | emb > "$TMP/few.stream"
    run --separate-stderr ctk-umap "$TMP/few.stream"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"too few for n_neighbors 15"* ]]
    blobs 30 8 | emb > "$TMP/d8.stream"
    pipeline "ctk-umap --seed 1 --save-model '$TMP/m16.st' '$TMPF/blobs.stream' > /dev/null"
    run --separate-stderr ctk-umap --transform "$TMP/m16.st" "$TMP/d8.stream"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"8 dimensions, the model's 16"* ]]
    run --separate-stderr ctk-umap --transform "$TMPF/blobs.stream" "$TMP/d8.stream"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    run bash -c "ctk-umap --seed 1 '$TMPF/blobs.stream' > /dev/full"
    [ "$status" -eq 1 ]
}

@test "ctk-cluster finds the three blobs of a UMAP embedding" {
    pipeline "ctk-umap --seed 1 -d 5 --min-dist 0 '$TMPF/blobs.stream' | ctk-cluster -m 20 > '$TMP/cl.stream'"
    run ctk-cat --info "$TMP/cl.stream"
    [[ "$output" == *"cluster"*"I32"* ]]
    [[ "$output" == *"cluster.prob"*"F32"* ]]
    # every blob maps to one cluster: 3 distinct (label, cluster) pairs, 3 clusters
    pairs=$(ctk-cat -c label,cluster "$TMP/cl.stream" | sort -u | wc -l)
    clusters=$(ctk-cat -c cluster "$TMP/cl.stream" | sort -u | grep -vc '^-1$')
    echo "pairs $pairs clusters $clusters"
    [ "$clusters" -eq 3 ]
    [ "$pairs" -le 4 ]
    ctk-cat -c cluster.prob "$TMP/cl.stream" | awk '$1 < 0 || $1 > 1 { exit 1 }'
}

@test "ctk-cluster refuses bad options and input" {
    run --separate-stderr ctk-cluster -m 1 "$TMPF/blobs.stream"
    expect_usage_error
    run --separate-stderr ctk-cluster --cluster-selection-method best "$TMPF/blobs.stream"
    expect_usage_error
    run --separate-stderr ctk-cluster -c label "$TMPF/blobs.stream"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"not a dense F32 vector column"* ]]
    pipeline "ctk-cluster -c emb '$TMPF/blobs.stream' > '$TMP/c1.stream'"
    run --separate-stderr ctk-cluster -c emb "$TMP/c1.stream"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"already has a 'cluster' column"* ]]
}

# png_check FILE W H: signature, every chunk's CRC, IHDR size, the pixels inflate,
# and the image is not blank (enough non-white pixels, several colours)
png_check() {
    "${PYTHON3:-python3}" - "$@" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
w_expect, h_expect = int(sys.argv[2]), int(sys.argv[3])
assert data[:8] == b"\x89PNG\r\n\x1a\n", "signature"
pos, idat, ihdr = 8, b"", None
while pos < len(data):
    n, = struct.unpack(">I", data[pos:pos + 4])
    typ, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
    crc, = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
    assert zlib.crc32(typ + body) == crc, "CRC of %r" % typ
    if typ == b"IHDR": ihdr = struct.unpack(">IIBBBBB", body)
    if typ == b"IDAT": idat += body
    pos += 12 + n
    if typ == b"IEND": break
assert pos == len(data), "bytes after IEND"
w, h, depth, ctype = ihdr[:4]
assert (w, h, depth, ctype) == (w_expect, h_expect, 8, 2), ihdr
raw = zlib.decompress(idat)
assert len(raw) == h * (3 * w + 1)
colours, ink = set(), 0
for y in range(h):
    row = raw[y * (3 * w + 1) + 1:(y + 1) * (3 * w + 1)]
    for x in range(w):
        px = row[3 * x:3 * x + 3]
        if px != b"\xff\xff\xff": ink += 1
        colours.add(px)
assert ink > 0.01 * w * h, "blank image (%d non-white pixels)" % ink
assert len(colours) > 10, "only %d colours" % len(colours)
print("ok", w, h, ink, len(colours))
PY
}

@test "ctk-plot writes a valid, non-blank PNG coloured by label" {
    pipeline "ctk-umap --seed 1 '$TMPF/blobs.stream' | ctk-plot -t 'three blobs' -o '$TMP/p.png'"
    run png_check "$TMP/p.png" 800 640
    echo "$output"
    [ "$status" -eq 0 ]
    pipeline "ctk-umap --seed 1 '$TMPF/blobs.stream' | ctk-plot -W 300 -H 200 > '$TMP/q.png'"
    run png_check "$TMP/q.png" 300 200
    [ "$status" -eq 0 ]
}

@test "ctk-plot --compare and SVG" {
    pipeline "ctk-umap --seed 1 '$TMPF/blobs.stream' > '$TMP/u1.stream'"
    pipeline "ctk-umap --seed 2 '$TMPF/blobs.stream' > '$TMP/u2.stream'"
    ctk-plot --compare "$TMP/u2.stream" -o "$TMP/cmp.png" "$TMP/u1.stream"
    run png_check "$TMP/cmp.png" 1400 640
    [ "$status" -eq 0 ]
    ctk-plot -t 'a <b> & c' -o "$TMP/p.svg" "$TMP/u1.stream"
    "${PYTHON3:-python3}" -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); n = sum(1 for e in r.iter() if e.tag.endswith("circle")); assert n == 303, n' "$TMP/p.svg"
    grep -q 'a &lt;b&gt; &amp; c' "$TMP/p.svg"
    grep -q '>b1 (100)<' "$TMP/p.svg"
}

@test "ctk-plot refuses what it cannot draw" {
    run --separate-stderr ctk-plot -c emb -o "$TMP/x.png" "$TMPF/blobs.stream"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"16 dimensions; a plot needs 2"* ]]
    [ ! -e "$TMP/x.png" ]
    run --separate-stderr ctk-plot --format gif "$TMPF/blobs.stream"
    expect_usage_error
    run --separate-stderr ctk-plot -W 10 "$TMPF/blobs.stream"
    expect_usage_error
    pipeline "ctk-umap --seed 1 '$TMPF/blobs.stream' > '$TMP/u.stream'"
    run --separate-stderr ctk-plot --color-by nosuch -o "$TMP/y.png" "$TMP/u.stream"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"no column 'nosuch'"* ]]
    [ ! -e "$TMP/y.png" ]
}

@test "ctk-umap --method tsne separates the blobs (Barnes-Hut and exact)" {
    pipeline "ctk-umap --method tsne --seed 1 --n-iter 300 '$TMPF/blobs.stream' > '$TMP/t.stream'"
    run ctk-cat --info "$TMP/t.stream"
    [[ "$output" == *"tsne"* ]]
    agree=$(centroid_agreement "$TMP/t.stream")
    echo "Barnes-Hut t-SNE centroid agreement $agree"
    awk -v a="$agree" 'BEGIN { exit !(a >= 0.98) }'
    blobs 90 16 | emb > "$TMP/small.stream"
    pipeline "ctk-umap --method tsne --tsne-method exact --perplexity 10 --n-iter 300 -d 3 --seed 1 '$TMP/small.stream' > '$TMP/t3.stream'"
    [ "$(ctk-cat -c coords "$TMP/t3.stream" | awk '{print NF}' | sort -u)" = 3 ]
    run --separate-stderr ctk-umap --method tsne --save-model x "$TMP/small.stream"
    expect_usage_error
    run --separate-stderr ctk-umap --method tsne --perplexity 100 "$TMP/small.stream"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"perplexity (100) must be less than the number of points (90)"* ]]
    run --separate-stderr ctk-umap --method tsne -d 3 "$TMP/small.stream"
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"Barnes-Hut"* ]]
}
