"""RecBole 1.2's EASE, ItemKNN and BPR on the runner's leave-last-out split of MovieLens 100K
(issue "The yardsticks": a second quality reference). The split is written as RecBole's
atomic files (`<name>.train.inter`, `.valid.inter`, `.test.inter`; the test file doubles as
the unused validation file), the model is built (EASE and ItemKNN compute their item-item
matrix from the training interactions) or trained epoch by epoch (BPR), and every test user's
full ranking is scored with the runner's protocol (common.py): training items excluded, ties to
the lower item id, Recall@10 and NDCG@10 of the held-out item. Prints one JSON line.

usage: recbole_side.py --data u.data --work DIR --model ease|itemknn|bpr [--seed S]
       [--epochs 100] [--threads 2]
"""

import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lightgcn_vs_recbole"))
from common import load_ml100k, rank_metrics  # noqa: E402
from recbole_side import base_config, enter_work, prepare, side_args, write_atomic  # noqa: E402  (lightgcn_vs_recbole's)


def main():
    ap = side_args(epochs=100)
    ap.add_argument("--model", required=True, choices=["ease", "itemknn", "bpr"])
    a = ap.parse_args()
    enter_work(a)

    import torch
    from recbole.data.interaction import Interaction
    from recbole.model.general_recommender import BPR, EASE, ItemKNN
    from recbole.trainer import Trainer

    split = load_ml100k(a.data)
    name = "ml100k_llo"
    write_atomic(split, a.work, name)
    # The runner's defaults where the two share a parameter: EASE lambda 500, kNN k 100 and no
    # shrink; BPR 64 dimensions with RecBole's own optimiser (Adam, lr 1e-3, batches of 2048).
    cls, extra = {
        "ease": (EASE, {"reg_weight": 500.0}),
        "itemknn": (ItemKNN, {"k": 100, "shrink": 0.0}),
        "bpr": (BPR, {"embedding_size": 64, "learning_rate": 1e-3, "train_batch_size": 2048, "epochs": a.epochs}),
    }[a.model]
    cfg = base_config(a.work, a.seed, train_neg_sample_args={"distribution": "uniform", "sample_num": 1}, **extra)
    config, dataset, train_data = prepare(cls.__name__, name, cfg)
    t = time.perf_counter()
    model = cls(config, train_data.dataset).to("cpu")
    losses = []
    if a.model == "bpr":
        trainer = Trainer(config, model)
        for epoch in range(a.epochs):
            loss = trainer._train_epoch(train_data, epoch, show_progress=False)
            losses.append(float(loss if not isinstance(loss, tuple) else sum(loss)))
    fit_s = time.perf_counter() - t
    model.eval()
    uid = dataset.field2token_id["user_id"]
    iid = dataset.field2token_id["item_id"]
    users = np.array([uid[str(r)] for r in split.users])
    # Internal item id of each dense item (0, RecBole's padding, for an item without training
    # interactions: its score is replaced below).
    items = np.array([iid.get(str(r), 0) for r in split.items])
    with torch.no_grad():
        if a.model == "bpr":
            u = model.user_embedding.weight.numpy()[users]
            i = model.item_embedding.weight.numpy()[items]
            i[items == 0] = 0.0
        else:
            n_internal = dataset.item_num
            scores = model.full_sort_predict(Interaction({"user_id": torch.tensor(users)}))
            scores = scores.reshape(len(users), n_internal)
            scores = scores.numpy() if hasattr(scores, "numpy") else np.asarray(scores)
            u = scores[:, items].astype(np.float32)
            u[:, items == 0] = 0.0
            i = np.eye(split.n_items, dtype=np.float32)
    recall, ndcg = rank_metrics(u, i, split)
    print(json.dumps({"side": "recbole", "model": a.model, "seed": a.seed, "threads": a.threads, "epochs": a.epochs if a.model == "bpr" else None,
                      "fit_s": fit_s, "loss_first_last": [losses[0], losses[-1]] if losses else None, "recall": recall, "ndcg": ndcg}))


if __name__ == "__main__":
    main()
