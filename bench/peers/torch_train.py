"""The torch side of bench/train_throughput.py: a plain PyTorch training loop for CNN-deep.

Runs in its own virtual environment (see bench/peers/README.md), never in the
project's: it imports torch, numpy and torch_zoo (beside it) only. Reads an .npz
written by the bench (X_train (N, L, 4), y_train (N, T), X_valid, y_valid, float32),
trains CNN-deep with an exponential first layer as torch_zoo.cnn_deep builds it (the
layers of motiflens.models; Adam's epsilon 1e-7, as Keras') with BCE on the logits
and Adam (lr 1e-3), ``--batch-size`` rows a step, reshuffled each epoch, and after
every epoch predicts the validation set once (as motiflens.train does). Prints one
JSON line: the seconds of every epoch.

Usage: ``python torch_train.py DATA.npz --epochs 3 --batch-size 100 --threads 2``
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import nn
from torch_zoo import cnn_deep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = np.load(args.data)
    # torch convolutions take (N, C, L): transposed once, outside the timed loop.
    X = torch.from_numpy(np.ascontiguousarray(data["X_train"].transpose(0, 2, 1)))
    y = torch.from_numpy(data["y_train"])
    X_valid = torch.from_numpy(np.ascontiguousarray(data["X_valid"].transpose(0, 2, 1)))
    torch.manual_seed(0)
    model = cnn_deep(X.shape[2], y.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_function = nn.BCEWithLogitsLoss()
    seconds = []
    for _ in range(args.epochs):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(X))
        for first in range(0, len(X), args.batch_size):
            rows = order[first : first + args.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_function(model(X[rows]), y[rows])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            for first in range(0, len(X_valid), 256):
                torch.sigmoid(model(X_valid[first : first + 256]))
        seconds.append(time.perf_counter() - start)
    print(
        json.dumps({"epoch_seconds": seconds, "threads": torch.get_num_threads(), "torch": torch.__version__})
    )


if __name__ == "__main__":
    main()
