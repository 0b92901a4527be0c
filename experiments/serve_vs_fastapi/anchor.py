"""The seed's serving stack as the anchor: FastAPI on uvicorn, the run's exported vectors in
NumPy and a faiss index (HNSW, the same M and ef as the runner's), answering the same
`POST /recommend {"user": ID, "k": K}` with the user's training items left out, or
`{"history": [ID, ...], "k": K}` with item2vec's query (the mean of the last 5 items' unit
vectors) and the history left out (fetched k + |left out| deep, then filtered, as a faiss
service must). Started by bench.py with the exported vectors' prefix and the split's training
pairs in ANCHOR_* environment variables; ANCHOR_INDEX names a saved index to read instead of
building one (`save_index()` writes it).
"""

import json
import os

import faiss
import numpy as np
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

prefix = os.environ["ANCHOR_PREFIX"]
items = np.ascontiguousarray(np.load(prefix + ".items.npy"), dtype=np.float32)
users = np.ascontiguousarray(np.load(prefix + ".users.npy"), dtype=np.float32)
item_ids = [l.rstrip("\n") for l in open(prefix + ".items.ids.txt")]
user_row = {l.rstrip("\n"): k for k, l in enumerate(open(prefix + ".users.ids.txt"))}
item_row = {r: k for k, r in enumerate(item_ids)}
seen = {u: set(v) for u, v in json.load(open(os.environ["ANCHOR_SEEN"])).items()}
QUERY_LAST = 5


def build_index():
    index = faiss.IndexHNSWFlat(items.shape[1], int(os.environ.get("ANCHOR_M", "16")), faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = int(os.environ.get("ANCHOR_EF_CONSTRUCTION", "200"))
    index.add(items)
    return index


def save_index():
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    faiss.write_index(build_index(), os.environ["ANCHOR_INDEX"])


if os.environ.get("ANCHOR_INDEX") and os.path.exists(os.environ["ANCHOR_INDEX"]):
    index = faiss.read_index(os.environ["ANCHOR_INDEX"])
elif os.environ.get("ANCHOR_INDEX"):
    index = None  # save_index() builds it
else:
    index = build_index()
if index is not None:
    index.hnsw.efSearch = int(os.environ.get("ANCHOR_EF", "64"))
faiss.omp_set_num_threads(1)

app = FastAPI()


class Ask(BaseModel):
    user: str | None = None
    history: list[str] | None = None
    k: int = 10


@app.post("/recommend")
def recommend(ask: Ask):
    if ask.history is not None:
        try:
            rows = [item_row[i] for i in ask.history]
        except KeyError as e:
            raise HTTPException(404, f"unknown item {e}")
        tail = items[rows[-QUERY_LAST:]]
        norms = np.linalg.norm(tail, axis=1, keepdims=True)
        query = (tail / np.where(norms > 0, norms, 1)).mean(axis=0, keepdims=True).astype(np.float32)
        have = set(ask.history)
    else:
        row = user_row.get(ask.user)
        if row is None:
            raise HTTPException(404, f"unknown user {ask.user}")
        query = users[row : row + 1]
        have = seen.get(ask.user, set())
    scores, ids = index.search(query, ask.k + len(have))
    out = []
    for s, i in zip(scores[0].tolist(), ids[0].tolist()):
        if i >= 0 and item_ids[i] not in have:
            out.append({"item": item_ids[i], "score": s})
            if len(out) == ask.k:
                break
    return {"items": out}
