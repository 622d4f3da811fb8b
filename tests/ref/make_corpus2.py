#!/usr/bin/python3
"""make_corpus2.py -- the second conformance corpus of ctk-tok: text found on
a Debian machine, other than the first corpus. Deterministic for a given
machine (sorted file lists, a seeded generator); the committed corpus is
tests/data/tok/corpus2.txt.gz, so this script only documents how it was made.

  * English man pages (section 1, 5, 8), rendered by man(1) as plain text;
  * man pages translated into other languages (/usr/share/man/LANG);
  * README and changelog text from /usr/share/doc;
  * translated messages of many languages from /usr/share/locale/*/*.mo
    (read with msgunfmt), which covers Arabic, CJK, Cyrillic, Greek, Hebrew,
    Indic scripts, Thai and more.

Usage: make_corpus2.py > corpus2.txt     (about 2400 lines, one text a line)
"""
import glob
import gzip
import os
import random
import re
import subprocess

rng = random.Random(20261128)
out = []


def keep(line):
    line = line.replace("\t", " ").strip()
    if len(line) < 3 or len(line.encode()) > 600:
        return None
    return line


def take(lines, n):
    lines = [l for l in (keep(x) for x in lines) if l]
    if len(lines) > n:
        lines = rng.sample(lines, n)
    out.extend(lines)


def render_man(path):
    try:
        r = subprocess.run(["man", "-l", "-E", "UTF-8", path], capture_output=True, timeout=20,
                           env=dict(os.environ, MANWIDTH="100", LANG="C.UTF-8", MAN_KEEP_FORMATTING=""))
        txt = r.stdout.decode("utf-8", "replace")
        return re.sub(r".\x08", "", txt).splitlines()
    except Exception:
        return []


# English man pages
pages = sorted(glob.glob("/usr/share/man/man[158]/*.gz"))
for p in rng.sample(pages, 60):
    take(render_man(p), 10)
# translated man pages
for lang in sorted(os.listdir("/usr/share/man")):
    if lang.startswith("man"):
        continue
    pages = sorted(glob.glob("/usr/share/man/%s/man*/*.gz" % lang))
    for p in rng.sample(pages, min(4, len(pages))):
        take(render_man(p), 8)
# /usr/share/doc
docs = sorted(glob.glob("/usr/share/doc/*/README*") + glob.glob("/usr/share/doc/*/changelog*"))
for p in rng.sample(docs, 60):
    try:
        data = gzip.open(p).read() if p.endswith(".gz") else open(p, "rb").read()
    except Exception:
        continue
    take(data.decode("utf-8", "replace").splitlines(), 6)
# translated messages
for lang in sorted(os.listdir("/usr/share/locale")):
    mos = sorted(glob.glob("/usr/share/locale/%s/LC_MESSAGES/*.mo" % lang))
    if not mos:
        continue
    for mo in rng.sample(mos, min(2, len(mos))):
        r = subprocess.run(["msgunfmt", mo], capture_output=True)
        po = r.stdout.decode("utf-8", "replace")
        strs = [s.encode().decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")
                for s in re.findall(r'^msgstr(?:\[\d+\])? "(.*)"$', po, re.M) if s]
        take(strs, 4)

for l in out:
    print(l)
