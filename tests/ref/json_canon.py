#!/usr/bin/env python3
"""json_canon.py -- print a JSON file in the canonical form that
`tests/unit/test_model --canon FILE` prints from ctk's reader (jansson), so
that a bats test can compare the two: Python's json module is the reference.

Canonical form: no spaces; objects in file order; strings quoted, with '"'
and '\\' backslash-escaped, printable ASCII as is, every other character as
\\u{HEX} of its code point (so a surrogate pair must have been joined);
integers in decimal; other numbers as '%.17g'.
Standard library only.
"""
import json
import sys


def s(x):
    out = []
    for ch in x:
        c = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= c < 0x7F:
            out.append(ch)
        else:
            out.append("\\u{%x}" % c)
    return '"' + "".join(out) + '"'


def canon(v):
    if isinstance(v, dict):
        return "{" + ",".join(s(k) + ":" + canon(x) for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(canon(x) for x in v) + "]"
    if isinstance(v, str):
        return s(v)
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, int):
        return "%d" % v
    return "%.17g" % v


with open(sys.argv[1], encoding="utf-8") as f:
    print(canon(json.load(f)))
