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
from torch_zoo import cnn_deep, load_keras_weights


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
    model = load_keras_weights(cnn_deep(data["X"].shape[1], data["logits"].shape[1]), weights).eval()
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
