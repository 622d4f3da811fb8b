#!/usr/bin/env python3
"""Read a ctk stream with Python's standard library only (ctk-stream(5)); print rows as JSON."""
import json, struct, sys, zlib

def read_stream(f):
    """Yield one dict per row: column name -> int, float, str or list."""
    while (magic := f.read(8)):
        assert magic == b"\x89CTK\r\n\x1a\n", "not a ctk stream"
        kind = None
        while kind != "end":
            (n,) = struct.unpack("<Q", f.read(8))
            head = f.read(n)
            tensors = json.loads(head)
            md = tensors.pop("__metadata__")
            kind = md["kind"]
            data = f.read(max([t["data_offsets"][1] for t in tensors.values()], default=0))
            assert zlib.crc32(head[:26] + b"00000000" + head[34:] + data) == int(md["crc32"], 16), "corrupt"
            if kind == "header":
                schema = json.loads(md["schema"])
            if kind != "chunk":
                continue
            val = {}
            for name, t in tensors.items():
                b, e = t["data_offsets"]
                code = {"F32": "f", "I32": "i", "I64": "q", "U8": "B"}[t["dtype"]]
                val[name] = data[b:e] if code == "B" else struct.unpack("<%d%s" % ((e - b) // struct.calcsize(code), code), data[b:e])
            for r in range(int(md["rows"])):
                row = {}
                for c in schema:
                    v, w = val[c["name"]], c["width"]
                    if c["kind"] == "dense":
                        row[c["name"]] = v[r] if w == 0 else list(v[r * w:(r + 1) * w])
                    else:
                        off = val[c["name"] + ".offsets"]
                        part = v[off[r]:off[r + 1]]
                        row[c["name"]] = part.decode("utf-8", "replace") if c["kind"] == "string" else list(part)
                yield row

for row in read_stream(sys.stdin.buffer):
    print(json.dumps(row, ensure_ascii=False))
