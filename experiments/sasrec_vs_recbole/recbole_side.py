"""RecBole 1.2's SASRec on the runner's leave-last-out split of MovieLens 100K. RecBole reads a
sequential benchmark as atomic files whose rows carry the history (`item_id_list`), so the
training file holds one row per training interaction after a user's first, its target and the
up to `max_len` items before it (RecBole's own per-prefix augmentation, done here on the
runner's split); the test rows hold each test user's last `max_len` training items. Trains
epoch by epoch, timing each `_train_epoch`, then scores the last-position outputs against the
item table with the runner's protocol (../yardsticks/common.py) and prints one JSON line.

usage: recbole_side.py --data u.data --work DIR --seed S --epochs E [--threads T]
       [--dim 64 --blocks 2 --heads 1 --max-len 50 --dropout 0.2 --lr 1e-3 --batch 128 --loss BPR]
"""

import importlib.util
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "yardsticks"))
from common import load_ml100k, rank_metrics  # noqa: E402
from sampled import sampled_metrics  # noqa: E402

# The RecBole settings and set-up the sides share (a module of the same file name, so loaded by path).
_spec = importlib.util.spec_from_file_location("recbole_shared", os.path.join(HERE, "..", "lightgcn_vs_recbole", "recbole_side.py"))
recbole_shared = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(recbole_shared)


def histories(split):
    """Each user's training items in time order (the split keeps file order within a user's
    sorted interactions, as the runner's split does)."""
    seqs = [[] for _ in range(split.n_users)]
    for u, i in zip(split.train_u.tolist(), split.train_i.tolist()):
        seqs[u].append(i)
    return seqs


def write_atomic(split, seqs, folder, name, max_len):
    os.makedirs(os.path.join(folder, name), exist_ok=True)
    head = "user_id:token\titem_id:token\titem_id_list:token_seq\n"
    train = []
    for u, s in enumerate(seqs):
        for t in range(1, len(s)):
            hist = " ".join(str(split.items[i]) for i in s[max(0, t - max_len):t])
            train.append(f"{split.users[u]}\t{split.items[s[t]]}\t{hist}\n")
    test = []
    for u, i in zip(split.test_u.tolist(), split.test_i.tolist()):
        if seqs[u]:
            hist = " ".join(str(split.items[x]) for x in seqs[u][-max_len:])
            test.append(f"{split.users[u]}\t{split.items[i]}\t{hist}\n")
    for part, rows in (("train", train), ("valid", test), ("test", test)):
        with open(os.path.join(folder, name, f"{name}.{part}.inter"), "w") as f:
            f.write(head)
            f.write("".join(rows))
    return len(train)


def main():
    ap = recbole_shared.side_args(epochs=20)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--heads", type=int, default=1)
    ap.add_argument("--max-len", type=int, default=50)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--loss", default="BPR", choices=["BPR", "CE"])
    a = ap.parse_args()
    recbole_shared.enter_work(a)

    import torch
    from recbole.model.sequential_recommender import SASRec
    from recbole.trainer import Trainer

    split = load_ml100k(a.data)
    seqs = histories(split)
    name = f"ml100k_seq{a.max_len}"
    rows = write_atomic(split, seqs, a.work, name, a.max_len)
    cfg = recbole_shared.base_config(a.work, a.seed, **{
        "alias_of_item_id": ["item_id_list"],
        "load_col": {"inter": ["user_id", "item_id", "item_id_list"]}, "MAX_ITEM_LIST_LENGTH": a.max_len,
        "n_layers": a.blocks, "n_heads": a.heads, "hidden_size": a.dim, "inner_size": a.dim,
        "hidden_dropout_prob": a.dropout, "attn_dropout_prob": a.dropout, "hidden_act": "relu", "layer_norm_eps": 1e-8,
        "initializer_range": 0.02, "loss_type": a.loss,
        "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1} if a.loss == "BPR" else None,
        "learning_rate": a.lr, "train_batch_size": a.batch, "epochs": a.epochs,
    })
    config, dataset, train_data = recbole_shared.prepare("SASRec", name, cfg)
    model = SASRec(config, train_data.dataset).to("cpu")
    trainer = Trainer(config, model)
    iid = dataset.field2token_id["item_id"]
    seq = np.zeros((split.n_users, a.max_len), dtype=np.int64)
    lens = np.ones(split.n_users, dtype=np.int64)
    for u, s in enumerate(seqs):
        tail = [iid[str(split.items[i])] for i in s[-a.max_len:]]
        if tail:
            seq[u, :len(tail)] = tail
            lens[u] = len(tail)

    def vectors():
        model.eval()
        with torch.no_grad():
            users = model.forward(torch.from_numpy(seq), torch.from_numpy(lens)).numpy()
            table = model.item_embedding.weight.numpy()
        items = np.zeros((split.n_items, table.shape[1]), dtype=np.float32)
        for k, r in enumerate(split.items):
            if str(r) in iid:
                items[k] = table[iid[str(r)]]
        return users, items

    per_epoch, losses, curve = [], [], []
    for epoch in range(a.epochs):
        t = time.perf_counter()
        loss = trainer._train_epoch(train_data, epoch, show_progress=False)
        per_epoch.append(time.perf_counter() - t)
        losses.append(float(loss if not isinstance(loss, tuple) else sum(loss)))
        # Test Recall@10 after each epoch (untimed), to read the training seconds a given
        # quality takes; the comparison's own numbers are those after the last epoch.
        curve.append(rank_metrics(*vectors(), split)[0])
    users, items = vectors()
    recall, ndcg = rank_metrics(users, items, split)
    hr100, ndcg100 = sampled_metrics(users, items, split)
    print(json.dumps({"side": "recbole", "model": "sasrec", "seed": a.seed, "threads": a.threads, "epochs": a.epochs, "train_rows": rows,
                      "fit_s": sum(per_epoch), "s_per_epoch": float(np.median(per_epoch)), "per_epoch": per_epoch,
                      "loss_first_last": [losses[0], losses[-1]], "recall_by_epoch": curve, "recall": recall, "ndcg": ndcg, "hr100": hr100, "ndcg100": ndcg100}))


if __name__ == "__main__":
    main()
