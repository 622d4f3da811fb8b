#!/usr/bin/python3
"""sample.py TRAIN.tsv K SEED OUT.tsv: K examples per class of TRAIN.tsv.

The sample is the first K lines of each label in a random.Random(SEED)
shuffle of the line numbers (1-based) of TRAIN.tsv; OUT.tsv gets those
lines in file order, OUT.tsv.lines their line numbers, so that anyone can
repeat the experiment with the same examples (the .lines files are kept in
bench/setfit/samples/).
"""
import random
import sys

path, k, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
lines = open(path, encoding="utf-8").read().split("\n")
if lines and lines[-1] == "":
    lines.pop()
order = list(range(len(lines)))
random.Random(seed).shuffle(order)
count, keep = {}, []
for i in order:
    label = lines[i].split("\t", 1)[0]
    if count.get(label, 0) < k:
        count[label] = count.get(label, 0) + 1
        keep.append(i)
keep.sort()
with open(out, "w", encoding="utf-8") as f:
    for i in keep:
        f.write(lines[i] + "\n")
with open(out + ".lines", "w") as f:
    for i in keep:
        f.write("%d\n" % (i + 1))
