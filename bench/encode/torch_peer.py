#!/usr/bin/python3
"""PyTorch peer for bench/encode: the same BERT or MPNet weights, run as
sentence-transformers runs them (sorted by length, padded per batch,
torch.inference_mode, torch.set_num_threads(T)), mean pooling + normalise.

Usage: torch_peer.py MODEL_DIR IDS_FILE BATCH THREADS [--export-onnx OUT.onnx]
IDS_FILE: one sequence a line, token ids separated by spaces (ctk-cat -c ids).
Prints: seconds tokens sequences (best of REPS runs, default 3, after a
warm-up) and the peak resident set size in MB.
"""
import json, math, os, resource, struct, sys, time
import numpy as np
import torch
import torch.nn.functional as F


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    dt = {"F32": np.float32, "F16": np.float16, "BF16": None, "I64": np.int64, "I32": np.int32}
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        if t["dtype"] == "BF16":
            u = np.frombuffer(data[b:e], dtype=np.uint16).astype(np.uint32) << 16
            a = u.view(np.float32)
        else:
            a = np.frombuffer(data[b:e], dtype=dt[t["dtype"]]).astype(np.float32)
        w = torch.from_numpy(a.reshape(t["shape"]).copy())
        out[name[5:] if name.startswith("bert.") else name] = w
    return out


def rp_bucket(rel, num_buckets=32, max_distance=128):
    """Hugging Face's MPNetEncoder.relative_position_bucket."""
    n = -rel
    num_buckets //= 2
    ret = (n < 0).to(torch.long) * num_buckets
    n = torch.abs(n)
    max_exact = num_buckets // 2
    large = max_exact + (torch.log(n.float() / max_exact) / math.log(max_distance / max_exact)
                         * (num_buckets - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return ret + torch.where(n < max_exact, n, large)


class MPNet(torch.nn.Module):
    """Hugging Face's MPNetModel (eager attention) + mean pooling + Normalize."""

    def __init__(self, cfg, w):
        super().__init__()
        self.cfg, self.w = cfg, w
        self.H = cfg["num_attention_heads"]
        self.L = cfg["num_hidden_layers"]
        self.eps = cfg.get("layer_norm_eps", 1e-5)

    def forward(self, ids, mask):
        w, B, T = self.w, ids.shape[0], ids.shape[1]
        C = w["embeddings.word_embeddings.weight"].shape[1]
        nonpad = ids.ne(1).long()
        pos = torch.cumsum(nonpad, dim=1) * nonpad + 1
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][pos]
        x = F.layer_norm(x, (C,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        ext = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        r = torch.arange(T)
        bias = w["encoder.relative_attention_bias.weight"][rp_bucket(r[None, :] - r[:, None])]
        ext = ext + bias.permute(2, 0, 1).unsqueeze(0)
        hd = C // self.H
        for l in range(self.L):
            p = f"encoder.layer.{l}."
            def lin(t, n):
                return F.linear(t, w[p + n + ".weight"], w[p + n + ".bias"])
            q = lin(x, "attention.attn.q").view(B, T, self.H, hd).transpose(1, 2)
            k = lin(x, "attention.attn.k").view(B, T, self.H, hd).transpose(1, 2)
            v = lin(x, "attention.attn.v").view(B, T, self.H, hd).transpose(1, 2)
            s = q @ k.transpose(-1, -2) / (hd ** 0.5) + ext
            a = torch.softmax(s, dim=-1) @ v
            a = a.transpose(1, 2).reshape(B, T, C)
            x = F.layer_norm(lin(a, "attention.attn.o") + x, (C,),
                             w[p + "attention.LayerNorm.weight"], w[p + "attention.LayerNorm.bias"], self.eps)
            h = F.gelu(lin(x, "intermediate.dense"))
            x = F.layer_norm(lin(h, "output.dense") + x, (C,),
                             w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        m = mask.unsqueeze(-1).to(x.dtype)
        e = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return F.normalize(e, p=2, dim=1)


class Bert(torch.nn.Module):
    def __init__(self, cfg, w):
        super().__init__()
        self.cfg, self.w = cfg, w
        self.H = cfg["num_attention_heads"]
        self.L = cfg["num_hidden_layers"]
        self.eps = cfg.get("layer_norm_eps", 1e-12)

    def forward(self, ids, mask):
        w, B, T = self.w, ids.shape[0], ids.shape[1]
        C = w["embeddings.word_embeddings.weight"].shape[1]
        pos = torch.arange(T).unsqueeze(0)
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][pos]
             + w["embeddings.token_type_embeddings.weight"][torch.zeros_like(ids)])
        x = F.layer_norm(x, (C,), w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        ext = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        hd = C // self.H
        for l in range(self.L):
            p = f"encoder.layer.{l}."
            def lin(t, n):
                return F.linear(t, w[p + n + ".weight"], w[p + n + ".bias"])
            q = lin(x, "attention.self.query").view(B, T, self.H, hd).transpose(1, 2)
            k = lin(x, "attention.self.key").view(B, T, self.H, hd).transpose(1, 2)
            v = lin(x, "attention.self.value").view(B, T, self.H, hd).transpose(1, 2)
            s = q @ k.transpose(-1, -2) / (hd ** 0.5) + ext
            a = torch.softmax(s, dim=-1) @ v
            a = a.transpose(1, 2).reshape(B, T, C)
            x = F.layer_norm(lin(a, "attention.output.dense") + x, (C,),
                             w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], self.eps)
            h = F.gelu(lin(x, "intermediate.dense"))
            x = F.layer_norm(lin(h, "output.dense") + x, (C,),
                             w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps)
        m = mask.unsqueeze(-1).to(x.dtype)
        e = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return F.normalize(e, p=2, dim=1)


def batches(seqs, bs):
    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
    for s in range(0, len(order), bs):
        idx = order[s:s + bs]
        T = max(len(seqs[i]) for i in idx)
        ids = torch.zeros(len(idx), T, dtype=torch.long)
        mask = torch.zeros(len(idx), T, dtype=torch.long)
        for r, i in enumerate(idx):
            ids[r, :len(seqs[i])] = torch.tensor(seqs[i])
            mask[r, :len(seqs[i])] = 1
        yield ids, mask


def main():
    mdir, idsfile, bs, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    cfg = json.load(open(mdir + "/config.json"))
    arch = MPNet if cfg.get("model_type") == "mpnet" else Bert
    model = arch(cfg, load_safetensors(mdir + "/model.safetensors")).eval()
    seqs = [[int(t) for t in line.split()] for line in open(idsfile)]
    if len(sys.argv) > 6 and sys.argv[5] == "--export-onnx":
        ids, mask = next(batches(seqs[:2], 2))
        torch.onnx.export(model, (ids, mask), sys.argv[6], input_names=["input_ids", "attention_mask"],
                          output_names=["embedding"], opset_version=14,
                          dynamic_axes={"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"}})
        return
    ntok = sum(len(s) for s in seqs)
    best = float("inf")
    with torch.inference_mode():
        for b in batches(seqs[:bs], bs):
            model(*b)
        for _ in range(int(os.environ.get("REPS", "3"))):
            t0 = time.perf_counter()
            for b in batches(seqs, bs):
                model(*b)
            best = min(best, time.perf_counter() - t0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{best:.6f} {ntok} {len(seqs)} {rss:.1f}")


if __name__ == "__main__":
    main()
