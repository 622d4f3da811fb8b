#!/usr/bin/env python3
# Read a ctk stream with the standard library only; print its rows as JSON.
# The code below is the reader printed in ctk-stream(5) (a test checks they agree).
import json, struct, sys, zlib

def records(f):
    """Yield (metadata, tensors) per record; a tensor is bytes (U8) or a tuple of numbers."""
    while (magic := f.read(8)):
        assert magic == b"\x89CTK\r\n\x1a\n", "not a ctk stream"
        md = {}
        while md.get("kind") != "end":
            head = f.read(struct.unpack("<Q", f.read(8))[0])
            tensors = json.loads(head)
            md = tensors.pop("__metadata__")
            data = f.read(max([t["data_offsets"][1] for t in tensors.values()], default=0))
            assert zlib.crc32(head[:26] + b"00000000" + head[34:] + data) == int(md["crc32"], 16)
            for name, t in tensors.items():
                b, e = t["data_offsets"]
                code = {"F32": "f", "I32": "i", "I64": "q", "U8": "B"}[t["dtype"]]
                tensors[name] = data[b:e] if code == "B" else struct.unpack(
                    "<%d%s" % ((e - b) // struct.calcsize(code), code), data[b:e])
            yield md, tensors

def rows(f):
    """Yield one dict per row: column name -> number, str or list."""
    for md, t in records(f):
        if md["kind"] == "header":
            schema = json.loads(md["schema"])
        elif md["kind"] == "chunk":
            for r in range(int(md["rows"])):
                row = {}
                for c in schema:
                    n, w = c["name"], c["width"]
                    if c["kind"] == "dense":
                        row[n] = t[n][r] if w == 0 else list(t[n][r * w:(r + 1) * w])
                    else:
                        o = t[n + ".offsets"]
                        part = t[n][o[r]:o[r + 1]]
                        row[n] = part.decode("utf-8", "replace") if c["kind"] == "string" else list(part)
                yield row

for row in rows(sys.stdin.buffer):
    print(json.dumps(row, ensure_ascii=False))
