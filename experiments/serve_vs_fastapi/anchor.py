"""The seed's serving stack as the anchor: FastAPI on uvicorn, the run's exported vectors in
NumPy and a faiss index (HNSW, the same M and ef as the runner's), answering the same
`POST /recommend {"user": ID, "k": K}` with the user's training items left out (fetched
k + |seen| deep, then filtered, as a faiss service must). Started by bench.py with the
exported vectors' prefix and the split's training pairs in ANCHOR_* environment variables.
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
seen = {u: set(v) for u, v in json.load(open(os.environ["ANCHOR_SEEN"])).items()}
index = faiss.IndexHNSWFlat(items.shape[1], int(os.environ.get("ANCHOR_M", "16")), faiss.METRIC_INNER_PRODUCT)
index.hnsw.efConstruction = int(os.environ.get("ANCHOR_EF_CONSTRUCTION", "200"))
index.add(items)
index.hnsw.efSearch = int(os.environ.get("ANCHOR_EF", "64"))
faiss.omp_set_num_threads(1)

app = FastAPI()


class Ask(BaseModel):
    user: str
    k: int = 10


@app.post("/recommend")
def recommend(ask: Ask):
    row = user_row.get(ask.user)
    if row is None:
        raise HTTPException(404, f"unknown user {ask.user}")
    have = seen.get(ask.user, set())
    scores, ids = index.search(users[row : row + 1], ask.k + len(have))
    out = []
    for s, i in zip(scores[0].tolist(), ids[0].tolist()):
        if i >= 0 and item_ids[i] not in have:
            out.append({"item": item_ids[i], "score": s})
            if len(out) == ask.k:
                break
    return {"items": out}
