#!/usr/bin/python3
"""Reference featuriser for the built-in n-gram encoder (lib/ngram.h).

An independent implementation of the spec in lib/ngram.h, written from the
spec with Python's unicodedata: lower-case, cut into words (letters, marks,
digits, '_', an apostrophe between two of them) and single-character
punctuation tokens, word n-grams 1-2 ending at each token, character
n-grams 3-5 of "<word>", FNV-1a 64 over a tag byte and the UTF-8 bytes,
fmix64, modulo 2^18.

Writes tests/golden/ngram_features.tsv: text (\\t \\n \\\\ escaped) TAB ids.
Run: /usr/bin/python3 tests/ref/ngram_features.py > tests/golden/ngram_features.tsv
"""
import sys
import unicodedata

M = (1 << 64) - 1
BUCKETS = 1 << 18


def fnv1a(data, seed=0):
    h = 0xcbf29ce484222325 ^ seed
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & M
    return h


def fmix64(k):
    k ^= k >> 33
    k = (k * 0xff51afd7ed558ccd) & M
    k ^= k >> 33
    k = (k * 0xc4ceb9fe1a85ec53) & M
    k ^= k >> 33
    return k


def fid(tag, s):
    return fmix64(fnv1a(tag.encode() + s.encode("utf-8"))) % BUCKETS


def lower(c):
    # utf8proc_tolower is the simple (one code point) mapping: keep c when
    # Python's full mapping is longer than one character.
    lc = c.lower()
    return lc if len(lc) == 1 else c


def kind(c):
    cat = unicodedata.category(c)
    if c == "_" or cat[0] in "LMN":
        return 1
    if cat in ("Zs", "Zl", "Zp", "Cc", "Cf"):
        return 2
    return 0


def tokens(text):
    cps = [lower(c) for c in text]
    k = [kind(c) for c in cps]
    for i in range(1, len(cps) - 1):
        if cps[i] in ("'", "\u2019") and k[i - 1] == 1 and k[i + 1] == 1:
            k[i] = 1
    out, i = [], 0
    while i < len(cps):
        if k[i] == 2:
            i += 1
            continue
        j = i + 1
        if k[i] == 1:
            while j < len(cps) and k[j] == 1:
                j += 1
        out.append(("".join(cps[i:j]), k[i] == 1))
        i = j
    return out


def features(text):
    toks = tokens(text)
    ids = []
    for t, (w, isword) in enumerate(toks):
        for n in (1, 2):
            if n <= t + 1:
                ids.append(fid("w", " ".join(x for x, _ in toks[t + 1 - n:t + 1])))
        if not isword:
            continue
        b = ["<"] + list(w) + [">"]
        for s in range(len(b)):
            for n in range(1, 6):
                if s + n > len(b):
                    break
                if n >= 3:
                    ids.append(fid("c", "".join(b[s:s + n])))
    return ids


TEXTS = [
    "We plan to build a data pipeline next quarter",
    "We are building a data pipeline right now",
    "Hi, DON'T stop!",
    "rock'n'roll isn't dead",
    "Straße ÉCOLE naïve café",
    "emoji \U0001F600 test 😀😀",
    "tabs\tand\nnewlines",
    "a",
    "?!",
    "x_y z-w 3.14 1,000",
    "日本語のテキスト",
    "Ünïcödé ΑΒΓ δέλτα",
    "  leading and trailing  ",
    "it’s curly",
]


def esc(s):
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


if __name__ == "__main__":
    for t in TEXTS:
        sys.stdout.write(esc(t) + "\t" + " ".join(map(str, features(t))) + "\n")
