"""The tangermeme side of bench/attribution_throughput.py: the same CNN-deep, in torch.

Runs in its own virtual environment (bench/peers/README.md): imports torch, numpy and
tangermeme only. Reads an .npz written by the bench: ``X`` (N, L, 4) float32, the
Keras model's weights by layer (``conv1/0``, ``conv1_bn/0..3``, ..., ``logits/1``), its
logits for X (``logits``, (N, T)) and motiflens' saliency scores and ISM hypothetical
(mean-centred) map of target 0 (``saliency``, ``ism``, (N, L, 4)). Builds the model in
torch with those weights (eval mode: dropout off, batch norm on its moving statistics), checks its logits
against Keras', and times tangermeme's saliency (``gradient_correction=False``,
motiflens' default), saturation mutagenesis (its fast path and ``fast=False``) and
``deep_lift_shap`` with ``n_shuffles`` references on the same sequences, each after a
warm-up call. Prints one JSON line: seconds per method, the logits' largest
difference, and the largest difference of tangermeme's saliency and ISM from
motiflens'.

Usage: ``python tangermeme_attribution.py DATA.npz --threads 2 --batch-size 256 --n-shuffles 10``
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch import nn


class Exponential(nn.Module):
    """The exponential first-layer activation."""

    def forward(self, x):
        """exp(x), elementwise."""
        return torch.exp(x)


class ChannelsLastFlatten(nn.Module):
    """Flatten (N, C, L) in Keras' channels-last order (position-major), so Dense weights carry over."""

    def forward(self, x):
        """(N, C, L) -> (N, L * C)."""
        return x.permute(0, 2, 1).reshape(x.shape[0], -1)


def conv_block(weights, name: str, channels_in: int, width: int, channels_out: int, act, pool: int = 0):
    conv = nn.Conv1d(channels_in, channels_out, width, padding="same", bias=False)
    conv.weight.data = torch.from_numpy(np.ascontiguousarray(weights[f"{name}/0"].transpose(2, 1, 0)))
    layers = [conv, batch_norm(weights, f"{name}_bn", channels_out), act]
    return layers + ([nn.MaxPool1d(pool)] if pool else [])


def batch_norm(weights, name: str, channels: int) -> nn.BatchNorm1d:
    norm = nn.BatchNorm1d(channels, eps=1e-3)
    gamma, beta, mean, variance = (torch.from_numpy(weights[f"{name}/{i}"]) for i in range(4))
    norm.weight.data, norm.bias.data = gamma, beta
    norm.running_mean.data, norm.running_var.data = mean, variance
    return norm


def cnn_deep(weights) -> nn.Module:
    dense = nn.Linear(512, 512, bias=False)
    dense.weight.data = torch.from_numpy(np.ascontiguousarray(weights["dense1/0"].T))
    logits = nn.Linear(512, weights["logits/0"].shape[1])
    logits.weight.data = torch.from_numpy(np.ascontiguousarray(weights["logits/0"].T))
    logits.bias.data = torch.from_numpy(weights["logits/1"])
    model = nn.Sequential(
        *conv_block(weights, "conv1", 4, 19, 32, Exponential()),
        *conv_block(weights, "conv2", 32, 9, 48, nn.ReLU(), pool=4),
        *conv_block(weights, "conv3", 48, 6, 96, nn.ReLU(), pool=4),
        *conv_block(weights, "conv4", 96, 4, 128, nn.ReLU(), pool=3),
        ChannelsLastFlatten(),
        dense,
        batch_norm(weights, "dense1_bn", 512),
        nn.ReLU(),
        logits,
    )
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--n-shuffles", type=int, default=10)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from tangermeme.deep_lift_shap import deep_lift_shap
    from tangermeme.saliency import saliency
    from tangermeme.saturation_mutagenesis import saturation_mutagenesis

    data = np.load(args.data)
    weights = {key: data[key] for key in data.files if "/" in key}
    model = cnn_deep(weights)
    X = torch.from_numpy(np.ascontiguousarray(data["X"].transpose(0, 2, 1)))  # (N, 4, L)
    with torch.no_grad():
        logits = model(X).numpy()
    report = {"logits_max_diff": float(np.abs(logits - data["logits"]).max())}

    batch = args.batch_size
    # hypothetical=True: the raw gradient, and ISM's mean-centred difference map (motiflens'
    # saliency scores and ISM hypothetical form); False would multiply both by X.
    calls = {
        "saliency": lambda x: saliency(
            model, x, target=0, batch_size=batch, gradient_correction=False, hypothetical=True
        ),
        "ism (fast)": lambda x: saturation_mutagenesis(
            model, x, target=0, batch_size=batch, hypothetical=True
        ),
        "ism_naive": lambda x: saturation_mutagenesis(
            model, x, target=0, batch_size=batch, hypothetical=True, fast=False
        ),
        "deepshap": lambda x: deep_lift_shap(
            model, x, target=0, batch_size=batch, n_shuffles=args.n_shuffles, random_state=0
        ),
    }
    seconds, results = {}, {}
    for name, call in calls.items():
        call(X[:2])  # warm-up
        start = time.perf_counter()
        results[name] = call(X)
        seconds[name] = time.perf_counter() - start
    report["seconds"] = seconds
    report["saliency_max_diff"] = float(
        np.abs(results["saliency"].detach().numpy().transpose(0, 2, 1) - data["saliency"]).max()
    )
    report["ism_max_diff"] = float(
        np.abs(results["ism (fast)"].detach().numpy().transpose(0, 2, 1) - data["ism"]).max()
    )
    report["threads"] = torch.get_num_threads()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
