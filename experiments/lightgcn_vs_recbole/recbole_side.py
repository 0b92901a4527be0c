"""RecBole 1.2's LightGCN on the runner's leave-last-out split of MovieLens 100K, exported to
RecBole's atomic files (`<name>.train.inter`, `.valid.inter`, `.test.inter`; the test file
doubles as the unused validation file). Trains epoch by epoch, timing each `_train_epoch`,
then scores the propagated vectors with the runner's protocol (../yardsticks/common.py) and
prints one JSON line.

usage: recbole_side.py --data u.data --work DIR --seed S --epochs E [--threads T]
       [--dim 64 --layers 3 --reg 1e-4 --lr 1e-3 --batch 2048]
"""

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "yardsticks"))
from common import load_ml100k, rank_metrics  # noqa: E402


def write_atomic(split, folder, name):
    os.makedirs(os.path.join(folder, name), exist_ok=True)
    parts = {"train": (split.train_u, split.train_i), "valid": (split.test_u, split.test_i), "test": (split.test_u, split.test_i)}
    for part, (u, i) in parts.items():
        with open(os.path.join(folder, name, f"{name}.{part}.inter"), "w") as f:
            f.write("user_id:token\titem_id:token\n")
            f.write("".join(f"{split.users[a]}\t{split.items[b]}\n" for a, b in zip(u.tolist(), i.tolist())))


def side_args(epochs):
    """The arguments every RecBole side here takes (this one, ../sasrec_vs_recbole's and
    ../yardsticks'); a side adds its model's own."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=epochs)
    ap.add_argument("--threads", type=int, default=2)
    return ap


def enter_work(a):
    """Makes `a.work` and `a.data` absolute, works in `a.work` (RecBole writes its TensorBoard
    logs into the working directory) and sets PyTorch's threads."""
    a.work, a.data = os.path.abspath(a.work), os.path.abspath(a.data)
    os.makedirs(a.work, exist_ok=True)
    os.chdir(a.work)
    import torch

    torch.set_num_threads(a.threads)


def base_config(work, seed, **extra):
    """RecBole settings every side here shares (this one, ../sasrec_vs_recbole's and
    ../yardsticks'): the split's atomic files in `work`, CPU, the seed, reproducible and
    quiet; `extra` adds the model's and overrides any."""
    return {
        "data_path": work, "benchmark_filename": ["train", "valid", "test"],
        "USER_ID_FIELD": "user_id", "ITEM_ID_FIELD": "item_id", "load_col": {"inter": ["user_id", "item_id"]},
        "device": "cpu", "use_gpu": False, "seed": seed, "reproducibility": True, "show_progress": False,
        "checkpoint_dir": os.path.join(work, "saved"), "log_wandb": False, "state": "ERROR", **extra,
    }


def prepare(model, name, cfg):
    """RecBole's config, dataset and training data for `model` on dataset `name`, seeded as
    RecBole's own quick start seeds them (again before the model is built)."""
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import init_seed

    config = Config(model=model, dataset=name, config_dict=cfg)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, _, _ = data_preparation(config, dataset)
    init_seed(config["seed"], config["reproducibility"])
    return config, dataset, train_data


def main():
    ap = side_args(epochs=100)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--reg", type=float, default=1e-4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=2048)
    a = ap.parse_args()
    enter_work(a)

    import torch
    from recbole.model.general_recommender import LightGCN
    from recbole.trainer import Trainer

    split = load_ml100k(a.data)
    name = "ml100k_llo"
    write_atomic(split, a.work, name)
    cfg = base_config(a.work, a.seed, **{
        "embedding_size": a.dim, "n_layers": a.layers, "reg_weight": a.reg, "require_pow": True,
        "learning_rate": a.lr, "train_batch_size": a.batch, "epochs": a.epochs,
        "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1},
    })
    config, dataset, train_data = prepare("LightGCN", name, cfg)
    model = LightGCN(config, train_data.dataset).to("cpu")
    trainer = Trainer(config, model)
    per_epoch, losses = [], []
    for epoch in range(a.epochs):
        t = time.perf_counter()
        loss = trainer._train_epoch(train_data, epoch, show_progress=False)
        per_epoch.append(time.perf_counter() - t)
        losses.append(float(loss if not isinstance(loss, tuple) else sum(loss)))
    model.eval()
    with torch.no_grad():
        u, i = model.forward()
    u, i = u.numpy(), i.numpy()
    # RecBole's internal ids (0 is padding) back to the split's dense order.
    uid = dataset.field2token_id["user_id"]
    iid = dataset.field2token_id["item_id"]
    users = u[[uid[str(r)] for r in split.users]]
    items = np.zeros((split.n_items, i.shape[1]), dtype=np.float32)
    for k, r in enumerate(split.items):
        if str(r) in iid:
            items[k] = i[iid[str(r)]]
    recall, ndcg = rank_metrics(users, items, split)
    print(json.dumps({"side": "recbole", "model": "lightgcn", "seed": a.seed, "threads": a.threads, "epochs": a.epochs,
                      "fit_s": sum(per_epoch), "s_per_epoch": float(np.median(per_epoch)), "per_epoch": per_epoch,
                      "loss_first_last": [losses[0], losses[-1]], "recall": recall, "ndcg": ndcg}))


if __name__ == "__main__":
    main()
