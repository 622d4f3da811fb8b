#!/usr/bin/python3
"""bert_ref.py -- the reference for ctk's BERT encoder (lib/bert.c).

A from-scratch BERT in PyTorch that follows Hugging Face transformers'
BertModel (modeling_bert.py: BertEmbeddings, BertSelfAttention,
BertSelfOutput, BertIntermediate, BertOutput) line by line, then
sentence-transformers' Pooling and Normalize modules, on a model folder in
the sentence-transformers layout read with a minimal safetensors reader
(struct + json + numpy: the safetensors package is not installable here).

Sequences are padded to the longest of the batch with an attention mask, as
Hugging Face runs them; ctk packs them without padding, so the comparison
also checks that packing changes nothing. The computation runs in float64
(from the file's F32/F16 weights, widened exactly) so that the expected
values carry no rounding of their own.

  bert_ref.py forward MODEL OUT.safetensors [--lengths 1,2,...] [--seed N]
      inputs, pooled embeddings for every pooling mode, normalised and not,
      and a sample of token embeddings (last hidden state)
  bert_ref.py grad MODEL OUT.safetensors [--lengths ...] [--rows K]
      inputs, a fixed random w (S, D), the loss sum(w * emb) on the model's own
      pooling (and Normalize), and the gradient of every parameter; with
      --rows K only K sampled rows of each 2-D tensor, --elems E only E elements of
      each 1-D one (their indices are stored as grad.NAME.rows)

Run with Debian's python3 (torch, numpy): /usr/bin/python3 tests/ref/bert_ref.py ...
"""
import argparse
import json
import os
import struct
import sys
import zlib

import numpy as np
import torch

DT = torch.float64

# --- safetensors, read and write -------------------------------------------

NP_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64,
             "I32": np.int32, "I64": np.int64, "U8": np.uint8}


def st_load(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    data = buf[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[b:e]
        if info["dtype"] == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(NP_DTYPES[info["dtype"]]).newbyteorder("<"))
        out[name] = arr.reshape(info["shape"]).copy()
    return out


def st_save(path, tensors, meta=None):
    header, blobs, off = {}, [], 0
    names = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32", np.dtype(np.int64): "I64"}
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": names[arr.dtype], "shape": list(arr.shape),
                        "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if meta:
        header["__metadata__"] = meta
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# --- the model folder -------------------------------------------------------

def load_folder(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    w = st_load(os.path.join(d, "model.safetensors"))
    w = {k[5:] if k.startswith("bert.") else k: v for k, v in w.items()}
    pool = {"pooling_mode_mean_tokens": True}
    p = os.path.join(d, "1_Pooling", "config.json")
    if os.path.exists(p):
        pool = json.load(open(p))
    normalize = False
    p = os.path.join(d, "modules.json")
    if os.path.exists(p):
        normalize = any(m["type"].endswith("Normalize") for m in json.load(open(p)))
    mode = [m for m in ("cls", "mean", "max", "mean_sqrt_len") if pool.get(
        "pooling_mode_%s_tokens" % m if m != "mean_sqrt_len" else "pooling_mode_mean_sqrt_len_tokens")]
    return cfg, w, mode[0], normalize


class Bert(torch.nn.Module):
    """BertModel without the pooler (sentence-transformers does not use it)."""

    def __init__(self, cfg, w):
        super().__init__()
        self.cfg = cfg
        self.p = torch.nn.ParameterDict()
        for k, v in w.items():
            if v.dtype.kind == "f" and not k.startswith("pooler."):
                self.p[k.replace(".", "/")] = torch.nn.Parameter(torch.tensor(v.astype(np.float64)).to(DT))

    def w(self, name):
        return self.p[name.replace(".", "/")]

    def linear(self, x, name):
        return x @ self.w(name + ".weight").T + self.w(name + ".bias")

    def layernorm(self, x, name):
        return torch.nn.functional.layer_norm(x, (x.shape[-1],), self.w(name + ".weight"),
                                              self.w(name + ".bias"), self.cfg["layer_norm_eps"])

    def forward(self, ids, type_ids, mask):
        cfg = self.cfg
        B, T = ids.shape
        C, H = cfg["hidden_size"], cfg["num_attention_heads"]
        hs = C // H
        # BertEmbeddings: word + token_type + absolute position, LayerNorm, dropout (off)
        pos = torch.arange(T).unsqueeze(0).expand(B, T)
        x = (self.w("embeddings.word_embeddings.weight")[ids]
             + self.w("embeddings.token_type_embeddings.weight")[type_ids]
             + self.w("embeddings.position_embeddings.weight")[pos])
        x = self.layernorm(x, "embeddings.LayerNorm")
        # get_extended_attention_mask: (1 - mask) * finfo.min added to the scores
        ext = (1.0 - mask[:, None, None, :].to(DT)) * torch.finfo(DT).min
        for l in range(cfg["num_hidden_layers"]):
            pre = "encoder.layer.%d." % l

            def heads(t):  # transpose_for_scores
                return t.view(B, T, H, hs).permute(0, 2, 1, 3)
            q = heads(self.linear(x, pre + "attention.self.query"))
            k = heads(self.linear(x, pre + "attention.self.key"))
            v = heads(self.linear(x, pre + "attention.self.value"))
            scores = q @ k.transpose(-1, -2) / (hs ** 0.5) + ext
            probs = torch.softmax(scores, dim=-1)
            ctx = (probs @ v).permute(0, 2, 1, 3).reshape(B, T, C)
            # BertSelfOutput: dense, dropout, LayerNorm(hidden + input)
            a = self.layernorm(self.linear(ctx, pre + "attention.output.dense") + x,
                               pre + "attention.output.LayerNorm")
            # BertIntermediate (erf GELU) and BertOutput
            i = torch.nn.functional.gelu(self.linear(a, pre + "intermediate.dense"))
            x = self.layernorm(self.linear(i, pre + "output.dense") + a, pre + "output.LayerNorm")
        return x


def pool(tok, mask, mode):
    """sentence_transformers.models.Pooling.forward."""
    m = mask.unsqueeze(-1).to(tok.dtype)
    if mode == "cls":
        return tok[:, 0]
    if mode == "max":
        t = tok.clone()
        t[m.expand_as(t) == 0] = -1e9
        return torch.max(t, 1)[0]
    s = torch.sum(tok * m, 1)
    n = torch.clamp(m.sum(1), min=1e-9)
    return s / n if mode == "mean" else s / torch.sqrt(n)


def make_batch(cfg, lengths, seed, pairs=True):
    rng = np.random.default_rng(seed)
    V = cfg["vocab_size"]
    ids = [rng.integers(0, V, size=n).astype(np.int32) for n in lengths]
    types = []
    for s, n in enumerate(lengths):
        t = np.zeros(n, np.int32)
        if pairs and s % 2 == 1 and cfg.get("type_vocab_size", 2) > 1:
            t[n // 2:] = 1  # a sentence pair: second half is segment 1
        types.append(t)
    return ids, types


def padded(ids, types):
    B, T = len(ids), max(len(x) for x in ids)
    I = torch.zeros(B, T, dtype=torch.long)
    Y = torch.zeros(B, T, dtype=torch.long)
    M = torch.zeros(B, T, dtype=torch.long)
    for s, (a, t) in enumerate(zip(ids, types)):
        I[s, :len(a)] = torch.tensor(a, dtype=torch.long)
        Y[s, :len(a)] = torch.tensor(t, dtype=torch.long)
        M[s, :len(a)] = 1
    return I, Y, M


def inputs_tensors(ids, types):
    lens = [len(x) for x in ids]
    return {"ids": np.concatenate(ids).astype(np.int32),
            "type_ids": np.concatenate(types).astype(np.int32),
            "offsets": np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)}


def cmd_forward(a):
    cfg, w, mode, normalize = load_folder(a.model)
    lengths = [int(x) for x in a.lengths.split(",")]
    ids, types = make_batch(cfg, lengths, a.seed)
    model = Bert(cfg, w)
    I, Y, M = padded(ids, types)
    with torch.no_grad():
        tok = model(I, Y, M)
    out = inputs_tensors(ids, types)
    for m in ("mean", "cls", "max", "mean_sqrt_len"):
        e = pool(tok, M, m)
        out["pool." + m] = e.numpy().astype(np.float32)
        out["pool." + m + ".norm"] = torch.nn.functional.normalize(e, p=2, dim=1).numpy().astype(np.float32)
    # a sample of token rows of the last hidden state: first, middle and last of each sequence
    rows, vals = [], []
    off = out["offsets"]
    for s, n in enumerate(lengths):
        for t in sorted({0, n // 2, n - 1}):
            rows.append(off[s] + t)
            vals.append(tok[s, t].numpy())
    out["tokens.rows"] = np.array(rows, np.int64)
    out["tokens"] = np.array(vals).astype(np.float32)
    st_save(a.out, out, {"model_pooling": mode, "model_normalize": str(int(normalize)),
                         "made_by": "tests/ref/bert_ref.py forward"})


def cmd_grad(a):
    cfg, w, mode, normalize = load_folder(a.model)
    if a.pooling:
        mode = a.pooling
    if a.normalize is not None:
        normalize = bool(a.normalize)
    lengths = [int(x) for x in a.lengths.split(",")]
    ids, types = make_batch(cfg, lengths, a.seed)
    model = Bert(cfg, w)
    I, Y, M = padded(ids, types)
    tok = model(I, Y, M)
    e = pool(tok, M, mode)
    if normalize:
        e = torch.nn.functional.normalize(e, p=2, dim=1)
    rng = np.random.default_rng(a.seed + 1)
    wl = rng.standard_normal(e.shape).astype(np.float32)
    loss = (e * torch.tensor(wl).to(DT)).sum()
    loss.backward()
    out = inputs_tensors(ids, types)
    out["w"] = wl
    out["loss"] = np.array([loss.item()], np.float32)
    out["emb"] = e.detach().numpy().astype(np.float32)
    for k, p in model.p.items():
        name = k.replace("/", ".")
        g = p.grad.numpy()
        r = np.random.default_rng(zlib.crc32(name.encode()))
        if a.rows and g.ndim == 2 and g.shape[0] > a.sample_above:
            pick = set(r.choice(g.shape[0], a.rows, replace=False).tolist())
            if name == "embeddings.word_embeddings.weight":
                pick |= set(int(x) for x in out["ids"][:a.rows])  # rows the batch touched
            if name == "embeddings.position_embeddings.weight":
                pick |= {0, 1, max(lengths) - 1}
            rows = np.array(sorted(pick), np.int64)
            out["grad." + name + ".rows"] = rows
            out["grad." + name] = g[rows].astype(np.float32)
        elif a.elems and g.ndim == 1 and g.shape[0] > a.elems:
            rows = np.array(sorted(r.choice(g.shape[0], a.elems, replace=False).tolist()), np.int64)
            out["grad." + name + ".rows"] = rows
            out["grad." + name] = g[rows].astype(np.float32)
        else:
            out["grad." + name] = g.astype(np.float32)
    st_save(a.out, out, {"pooling": mode, "normalize": str(int(normalize)),
                         "made_by": "tests/ref/bert_ref.py grad"})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("forward")
    f.add_argument("model")
    f.add_argument("out")
    f.add_argument("--lengths", default="1,2,3,5,9,17,33,64,128,257,512")
    f.add_argument("--seed", type=int, default=1)
    g = sub.add_parser("grad")
    g.add_argument("model")
    g.add_argument("out")
    g.add_argument("--lengths", default="1,3,8,20,37")
    g.add_argument("--seed", type=int, default=2)
    g.add_argument("--rows", type=int, default=0,
                   help="keep only this many sampled rows of each 2-D gradient...")
    g.add_argument("--sample-above", type=int, default=0,
                   help="...of more than this many rows")
    g.add_argument("--elems", type=int, default=0,
                   help="keep only this many sampled elements of each 1-D gradient")
    g.add_argument("--pooling", choices=["mean", "cls", "max", "mean_sqrt_len"])
    g.add_argument("--normalize", type=int, choices=[0, 1])
    for p in (f, g):
        p.add_argument("--float32", action="store_true",
                       help="compute in float32, as Hugging Face does (to measure its own error)")
    a = ap.parse_args()
    if a.float32:
        global DT
        DT = torch.float32
    torch.manual_seed(0)
    {"forward": cmd_forward, "grad": cmd_grad}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
