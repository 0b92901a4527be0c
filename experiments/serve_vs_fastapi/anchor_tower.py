"""The seed's stack for the two-tower model: the runner's trained user tower rebuilt in
PyTorch from the train entry's `weights.safetensors`, run on each request's features and
history, and a faiss HNSW index over the exported item vectors, behind FastAPI on uvicorn.
It answers `POST /recommend {"history": [ID, ...], "features": {...}, "k": K}` as
`runner serve` does: the tower's input blocks in the runner's order (the non-numeric feature
columns as listed, then the numeric ones standardised on the training users, then the mean
of the last `history` items' embeddings), the MLP, the L2 normalisation, the history's items
left out. Started by bench.py with ANCHOR_* environment variables.
"""

import json
import os
import struct

import faiss
import numpy as np
import torch
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel


def read_safetensors(path):
    """The f32 tensors of a safetensors file (8-byte header length, JSON header, data)."""
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8 : 8 + n])
    out = {}
    for k, v in head.items():
        if k != "__metadata__":
            s, e = v["data_offsets"]
            out[k] = np.frombuffer(b[8 + n + s : 8 + n + e], dtype=np.float32).reshape(v["shape"])
    return out


torch.set_num_threads(1)
faiss.omp_set_num_threads(1)
W = read_safetensors(os.environ["ANCHOR_WEIGHTS"])
ds = json.load(open(os.environ["ANCHOR_DATASET"]))
features = os.environ["ANCHOR_FEATURES"].split(",")
history_len = int(os.environ["ANCHOR_HISTORY"])
item_ids = [l.rstrip("\n") for l in open(os.environ["ANCHOR_PREFIX"] + ".items.ids.txt")]
item_row = {r: k for k, r in enumerate(item_ids)}
present = set(json.load(open(os.environ["ANCHOR_SEEN"])).keys())
user_ids = ds["users"] if isinstance(ds["users"], list) else ds["users"]["raws"]
columns = {c["name"]: c for c in ds["user_features"]["columns"]}
labels = {n: {l: k for k, l in enumerate(columns[n].get("labels", []))} for n in features if columns[n]["type"] == "categorical"}
numeric = [n for n in features if columns[n]["type"] == "numeric"]
stats = {}
for n in numeric:
    v = np.array([x for u, x in zip(user_ids, columns[n]["values"]) if u in present and x is not None and np.isfinite(x)], dtype=np.float64)
    sd = v.std()
    stats[n] = (np.float32(v.mean()), np.float32(sd if sd > 1e-12 else 1.0))


class Tower(torch.nn.Module):
    def __init__(self):
        super().__init__()
        t = lambda name: torch.nn.Embedding.from_pretrained(torch.from_numpy(W[name].copy()))
        self.cats = torch.nn.ModuleDict({n: t(f"user.feature.{n}") for n in labels})
        history = "item.id" if "item.id" in W else "user.history"
        self.history = torch.nn.EmbeddingBag.from_pretrained(torch.from_numpy(W[history].copy()), mode="mean")
        layers, k = [], 0
        while f"user.mlp.{k}.linear.weight" in W:
            lin = torch.nn.Linear(*W[f"user.mlp.{k}.linear.weight"].shape)
            lin.weight.data = torch.from_numpy(W[f"user.mlp.{k}.linear.weight"].T.copy())
            lin.bias.data = torch.from_numpy(W[f"user.mlp.{k}.linear.bias"][0].copy())
            layers += [lin, torch.nn.ReLU()]
            k += 1
        out = torch.nn.Linear(*W["user.mlp.out.weight"].shape)
        out.weight.data = torch.from_numpy(W["user.mlp.out.weight"].T.copy())
        out.bias.data = torch.from_numpy(W["user.mlp.out.bias"][0].copy())
        self.mlp = torch.nn.Sequential(*layers, out)

    def forward(self, cats, nums, history):
        blocks = [self.cats[n](cats[n]) for n in labels] + [nums, self.history(history)]
        y = self.mlp(torch.cat(blocks, dim=1))
        return y / torch.sqrt((y * y).sum(dim=1, keepdim=True) + 1e-12)


tower = Tower().eval()
items = np.ascontiguousarray(np.load(os.environ["ANCHOR_PREFIX"] + ".items.npy"), dtype=np.float32)
index = faiss.IndexHNSWFlat(items.shape[1], int(os.environ.get("ANCHOR_M", "16")), faiss.METRIC_INNER_PRODUCT)
index.hnsw.efConstruction = int(os.environ.get("ANCHOR_EF_CONSTRUCTION", "200"))
index.add(items)
index.hnsw.efSearch = int(os.environ.get("ANCHOR_EF", "64"))

app = FastAPI()


class Ask(BaseModel):
    history: list[str] = []
    features: dict = {}
    k: int = 10


@app.post("/recommend")
def recommend(ask: Ask):
    try:
        hist = [item_row[i] for i in ask.history]
        cats = {n: torch.tensor([labels[n][str(ask.features[n])]]) for n in labels}
        nums = torch.tensor([[(np.float32(ask.features[n]) - stats[n][0]) / stats[n][1] for n in numeric]], dtype=torch.float32)
    except KeyError as e:
        raise HTTPException(400, f"unknown or missing {e}")
    h = torch.tensor([hist[-history_len:]] if hist else [[]], dtype=torch.long)
    with torch.inference_mode():
        q = tower(cats, nums, h).numpy()
    have = set(hist)
    scores, ids = index.search(q, ask.k + len(have))
    out = []
    for s, i in zip(scores[0].tolist(), ids[0].tolist()):
        if i >= 0 and i not in have:
            out.append({"item": item_ids[i], "score": s})
            if len(out) == ask.k:
                break
    return {"items": out}
