#!/usr/bin/python3
"""make_corpus3.py -- random code points for ctk-tok's conformance: lines of
characters drawn from every plane and every general category (assigned in
Unicode 8.0 or later, unassigned, private use, controls, marks after
letters, CJK extension ranges, Hangul, spaces), so that every difference
between ctk's character tables and the Rust tokenizers' shows up.
Seeded; the committed corpus is tests/data/tok/corpus3.txt.gz.

Usage: make_corpus3.py > corpus3.txt
"""
import random

rng = random.Random(3)
ranges = [(0x20, 0x7E), (0x80, 0x24F), (0x250, 0x36F), (0x370, 0x52F), (0x530, 0x8FF),
          (0x900, 0xDFF), (0xE00, 0x10FF), (0x1100, 0x11FF), (0x1200, 0x1FFF), (0x2000, 0x206F),
          (0x2070, 0x2BFF), (0x2C00, 0x2FFF), (0x3000, 0x33FF), (0x3400, 0x4DBF), (0x4DC0, 0x4DFF),
          (0x4E00, 0x9FFF), (0xA000, 0xABFF), (0xAC00, 0xD7FF), (0xE000, 0xF8FF), (0xF900, 0xFAFF),
          (0xFB00, 0xFFFD), (0x10000, 0x1FFFF), (0x1F300, 0x1FAFF), (0x20000, 0x2FFFF),
          (0x30000, 0x323AF), (0xE0000, 0xE01EF), (0xF0000, 0xF00FF), (0x10FF00, 0x10FFFF)]
for i in range(2000):
    n = rng.randint(1, 40)
    s = []
    for _ in range(n):
        r = rng.random()
        if r < 0.25:
            s.append(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ  .,'-"))
            continue
        lo, hi = rng.choice(ranges)
        c = rng.randint(lo, hi)
        if c == 0x0A or 0xD800 <= c <= 0xDFFF:
            c = 0x20
        s.append(chr(c))
    print("".join(s))
