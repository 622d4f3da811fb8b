#!/usr/bin/env python3
"""read_safetensors.py -- an independent safetensors reader (Python standard
library only: struct, json, array), written from the format's description
(https://github.com/huggingface/safetensors#format), to check the files ctk
writes. Python's `safetensors` package is not installable on the build
machines, so this is the second reader; it is as strict as the Rust crate
(8-byte length, JSON header, tensors tiling the data area in offset order).

Usage:
  read_safetensors.py FILE             list "name dtype shape" per tensor; header checks
  read_safetensors.py --meta FILE      print __metadata__ as JSON
  read_safetensors.py --stats FILE     per tensor: name n mean std min max zeros ones
  read_safetensors.py --row FILE NAME I   print row I of 2-D tensor NAME
  read_safetensors.py --rounded F32FILE HALFFILE
        check that every value of HALFFILE (F16 or BF16) is the round-to-
        nearest-even of the same value in F32FILE (struct's 'e' format for
        F16; integer arithmetic on the bits for BF16)
Exit status 1 with a message on any violation.
"""
import json
import math
import struct
import sys

SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
         "U32": 4, "I32": 4, "F32": 4, "U64": 8, "I64": 8, "F64": 8}


def fail(msg):
    sys.stderr.write("read_safetensors.py: %s\n" % msg)
    sys.exit(1)


def load(path):
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        fail("%s: shorter than 8 bytes" % path)
    (n,) = struct.unpack("<Q", buf[:8])
    if 8 + n > len(buf):
        fail("%s: header length %d past the end" % (path, n))
    if (8 + n) % 8:
        fail("%s: data area not 8-byte aligned (header length %d)" % (path, n))
    raw = buf[8:8 + n]
    if raw.rstrip(b" ") != raw.rstrip():
        fail("%s: header padded with something other than spaces" % path)
    header = json.loads(raw.decode("utf-8"))
    data = buf[8 + n:]
    meta = header.pop("__metadata__", None)
    if meta is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        fail("%s: __metadata__ must map strings to strings" % path)
    tensors = []
    for name, info in header.items():
        if set(info) != {"dtype", "shape", "data_offsets"}:
            fail("%s: %s: fields %s" % (path, name, sorted(info)))
        dt, shape, (b, e) = info["dtype"], info["shape"], info["data_offsets"]
        if dt not in SIZES:
            fail("%s: %s: dtype %s" % (path, name, dt))
        count = 1
        for d in shape:
            if not isinstance(d, int) or d < 0:
                fail("%s: %s: shape %s" % (path, name, shape))
            count *= d
        if e - b != count * SIZES[dt]:
            fail("%s: %s: %d bytes for shape %s %s" % (path, name, e - b, shape, dt))
        tensors.append((name, dt, shape, b, e))
    at = 0
    for name, dt, shape, b, e in sorted(tensors, key=lambda t: (t[3], t[4])):
        if b != at:
            fail("%s: %s begins at %d, expected %d" % (path, name, b, at))
        at = e
    if at != len(data):
        fail("%s: tensors use %d of %d data bytes" % (path, at, len(data)))
    order = [t[3] for t in tensors]
    if order != sorted(order):
        fail("%s: header order differs from data order" % path)
    return meta, tensors, data


def values(data, dt, b, e):
    raw = data[b:e]
    if dt == "F32":
        return list(struct.unpack("<%df" % ((e - b) // 4), raw))
    if dt == "F16":
        return list(struct.unpack("<%de" % ((e - b) // 2), raw))
    if dt == "BF16":
        hs = struct.unpack("<%dH" % ((e - b) // 2), raw)
        return list(struct.unpack("<%df" % len(hs), struct.pack("<%dI" % len(hs), *[h << 16 for h in hs])))
    if dt == "F64":
        return list(struct.unpack("<%dd" % ((e - b) // 8), raw))
    fmt = {"I32": "i", "I64": "q", "U8": "B", "I8": "b", "U16": "H", "I16": "h", "U32": "I",
           "U64": "Q", "BOOL": "?"}[dt]
    return list(struct.unpack("<%d%s" % ((e - b) // SIZES[dt], fmt), raw))


def bf16_round(bits):
    """Round-to-nearest-even of float bits to bfloat16 bits (NaN -> quiet NaN)."""
    if (bits & 0x7F800000) == 0x7F800000 and bits & 0x7FFFFF:
        return (bits >> 16) | 0x40
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) & 0xFFFF


def main(argv):
    if len(argv) == 2 and not argv[1].startswith("--"):
        meta, tensors, _ = load(argv[1])
        for name, dt, shape, b, e in tensors:
            print("%s %s [%s]" % (name, dt, ", ".join(map(str, shape))))
    elif len(argv) == 3 and argv[1] == "--meta":
        meta, _, _ = load(argv[2])
        print(json.dumps(meta, sort_keys=True))
    elif len(argv) == 3 and argv[1] == "--stats":
        _, tensors, data = load(argv[2])
        for name, dt, shape, b, e in tensors:
            v = values(data, dt, b, e)
            n = len(v)
            mean = sum(v) / n if n else 0.0
            std = math.sqrt(sum((x - mean) ** 2 for x in v) / n) if n else 0.0
            print("%s %d %.6f %.6f %.6f %.6f %d %d" % (name, n, mean, std, min(v, default=0),
                                                      max(v, default=0), v.count(0.0), v.count(1.0)))
    elif len(argv) == 5 and argv[1] == "--row":
        _, tensors, data = load(argv[2])
        for name, dt, shape, b, e in tensors:
            if name == argv[3]:
                cols, i = shape[1], int(argv[4])
                v = values(data, dt, b + i * cols * SIZES[dt], b + (i + 1) * cols * SIZES[dt])
                print(" ".join("%.9g" % x for x in v))
                return
        fail("no tensor %s" % argv[3])
    elif len(argv) == 4 and argv[1] == "--rounded":
        _, t32, d32 = load(argv[2])
        _, t16, d16 = load(argv[3])
        if [(t[0], t[2]) for t in t32] != [(t[0], t[2]) for t in t16]:
            fail("the two files hold different tensors")
        checked = 0
        for (name, dt, shape, b, e), (_, dh, _, bh, eh) in zip(t32, t16):
            raw32 = d32[b:e]
            got = d16[bh:eh]
            n = (e - b) // 4
            if dh == "F16":
                want = struct.pack("<%de" % n, *struct.unpack("<%df" % n, raw32))
            elif dh == "BF16":
                want = struct.pack("<%dH" % n, *[bf16_round(x) for x in struct.unpack("<%dI" % n, raw32)])
            else:
                fail("%s is %s, not F16 or BF16" % (name, dh))
            if got != want:
                fail("%s: %s values differ from the rounded F32 values" % (name, dh))
            checked += n
        print("%d values rounded as expected" % checked)
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
