"""Throughput of the attribution methods in motiflens.attribution.

Prints, for CNN-deep with an exponential first layer (12 outputs, 200-nt input,
seeded random weights with randomised batch-norm statistics), the sequences/s of
saliency, fast ISM, naive ISM, integrated gradients (20 steps x 10 references)
and DeepSHAP (10 references) on the same random one-hot sequences, all measured
in the same run after a warm-up call per method (process start-up costs). Each
timed call includes its own graph trace (a fraction of a second), as a user's
call would. Each method's line also gives its FLOPs per sequence
(:func:`motiflens.flops.attribution_flops`: fast ISM counted on its own window
plan, not naive ISM's), the GFLOP/s that makes, and its fraction of the float32
GEMM rate measured in the same run on the same threads (bench/rates.py; issue 19's
target for fast ISM at 200 nt: >= 60 %). Then:

1. the fast-ISM speed-up over naive ISM, beside its FLOP ceiling (naive / windowed FLOPs; 4.05x
   for CNN-deep at 200 nt, so an older target of 5x cannot be met there), and the largest
   difference between their scores;
2. the fast-ISM speed-up over a per-sequence loop, the way the paper's code ran
   ISM: one sequence's 3L mutants per ``model.predict`` call (``batch_size``
   rows per predict batch), timed on ``--loop-sequences`` sequences;
3. with ``--tangermeme-python`` (cnn_deep only): tangermeme's saliency, saturation
   mutagenesis (fast path and ``fast=False``) and ``deep_lift_shap`` (10 references)
   on the same model copied into torch and the same sequences
   (bench/peers/tangermeme_attribution.py, in its own virtual environment:
   bench/peers/README.md), at the same thread count, and the ratio motiflens /
   tangermeme in sequences/s; the torch copy's logits and tangermeme's saliency and
   ISM are compared with motiflens' (largest differences printed).

Usage: ``python bench/attribution_throughput.py [--num-sequences 200]
[--batch-size 512] [--loop-sequences 50] [--repeats 1] [--threads 0] [--length 200]
[--architecture cnn_deep] [--tangermeme-python PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

from rates import gemm_rate, set_threads

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-sequences", type=int, default=200, help="sequences attributed per method")
    parser.add_argument("--batch-size", type=int, default=512, help="model evaluations per pass")
    parser.add_argument("--loop-sequences", type=int, default=50, help="sequences for the per-sequence loop")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per method (the best is kept)")
    parser.add_argument("--length", type=int, default=200, help="sequence length")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: one per CPU)")
    parser.add_argument("--architecture", default="cnn_deep", help="a model of the zoo")
    parser.add_argument(
        "--tangermeme-python", help="python of a venv with tangermeme (bench/peers/README.md)"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    import keras
    import numpy as np
    import tensorflow as tf

    threads = args.threads or os.cpu_count() or 1
    set_threads(threads)
    from motiflens import attribution
    from motiflens.flops import attribution_flops
    from motiflens.models import build_model, logits_model

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, TensorFlow {tf.__version__}, "
        f"GPUs: {len(tf.config.list_physical_devices('GPU'))}, {threads} intra-op threads"
    )
    model = build_model(
        architecture=args.architecture,
        input_length=args.length,
        num_outputs=12,
        activation="exponential",
        seed=0,
    )
    rng = np.random.default_rng(0)
    for layer in model.layers:
        # Untrained models have identity BN statistics; random ones make BN do real work.
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0, 0.5, channels).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, channels).astype("float32"))
    X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, (args.num_sequences, args.length))]
    print(
        f"model: {args.architecture}, exponential, 12 outputs, L={args.length}; N={args.num_sequences}, "
        f"batch_size={args.batch_size}"
    )
    gemm = gemm_rate()
    print(f"float32 GEMM: {gemm:.0f} GFLOP/s on {threads} threads (same run)")

    def timed(function, data):
        best, result = float("inf"), None
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = function(data)
            best = min(best, time.perf_counter() - start)
        return best, result

    methods = {
        "saliency": lambda data: attribution.saliency(model, data, batch_size=args.batch_size),
        "ism (fast)": lambda data: attribution.ism(model, data, batch_size=args.batch_size),
        "ism_naive": lambda data: attribution.ism_naive(model, data, batch_size=args.batch_size),
        "integrated_gradients": lambda data: attribution.integrated_gradients(
            model, data, batch_size=args.batch_size
        ),
        "deepshap": lambda data: attribution.deepshap(model, data, batch_size=args.batch_size),
    }
    flops = {
        "saliency": attribution_flops(model, "saliency"),
        "ism (fast)": attribution_flops(model, "ism"),
        "ism_naive": attribution_flops(model, "ism_naive"),
        "integrated_gradients": attribution_flops(model, "integrated_gradients"),
        "deepshap": attribution_flops(model, "deepshap"),
    }
    print(f"{'method':>22}  {'sequences/s':>11}  {'GFLOP/seq':>9}  {'GFLOP/s':>7}  {'of GEMM':>7}")
    seconds, results = {}, {}
    for name, function in methods.items():
        function(X[:2])  # warm-up: the first calls in a process pay one-off costs (kernels, allocations)
        seconds[name], results[name] = timed(function, X)
        rate = args.num_sequences / seconds[name]
        achieved = rate * flops[name] / 1e9
        print(
            f"{name:>22}  {rate:11.1f}  {flops[name] / 1e9:9.4f}  {achieved:7.1f}  {achieved / gemm:7.1%}"
            f"  ({seconds[name]:.2f} s)"
        )

    logits = logits_model(model)
    eye = np.eye(4, dtype=np.float32)

    def per_sequence_loop(data):
        # The paper's way: all 3L mutants of one sequence per predict call.
        out = np.zeros(data.shape, dtype=np.float32)
        for i, x in enumerate(data):
            wild_type = logits.predict(x[None], verbose=0)[0, 0]
            positions, bases = np.nonzero(x != 1)
            mutants = np.repeat(x[None], len(positions), axis=0)
            mutants[np.arange(len(positions)), positions] = eye[bases]
            out[i, positions, bases] = (
                logits.predict(mutants, batch_size=args.batch_size, verbose=0)[:, 0] - wild_type
            )
        return out

    loop_X = X[: args.loop_sequences]
    per_sequence_loop(loop_X[:1])
    loop_seconds, loop_scores = timed(per_sequence_loop, loop_X)
    loop_rate = len(loop_X) / loop_seconds
    print(
        f"{'ism per-sequence loop':>22}: {loop_rate:9.1f} sequences/s ({loop_seconds:.2f} s, N={len(loop_X)})"
    )

    fast = results["ism (fast)"].scores
    difference = np.abs(fast - results["ism_naive"].scores).max()
    loop_difference = np.abs(fast[: len(loop_X)] - loop_scores).max()
    fast_rate = args.num_sequences / seconds["ism (fast)"]
    print(
        f"fast ISM speed-up over naive ISM: {seconds['ism_naive'] / seconds['ism (fast)']:.1f}x "
        f"(FLOP ceiling {flops['ism_naive'] / flops['ism (fast)']:.2f}x); "
        f"max |fast - naive| = {difference:.2e}"
    )
    print(
        f"fast ISM speed-up over the per-sequence loop: {fast_rate / loop_rate:.1f}x; "
        f"max |fast - loop| = {loop_difference:.2e}"
    )
    if args.tangermeme_python:
        compare_tangermeme(args, model, X, results, seconds, threads)


def compare_tangermeme(args, model, X, results: dict, seconds: dict, threads: int) -> None:
    """Run bench/peers/tangermeme_attribution.py on the same model and sequences; print the ratios."""
    import numpy as np

    from motiflens.models import logits_model

    if args.architecture != "cnn_deep":
        print("tangermeme: only cnn_deep has a torch copy (bench/peers/tangermeme_attribution.py)")
        return
    folder = Path(tempfile.mkdtemp(prefix="motiflens-bench-"))
    arrays = {
        "X": X,
        "logits": logits_model(model).predict(X, verbose=0),
        "saliency": results["saliency"].scores,
        "ism": results["ism (fast)"].hypothetical,  # the mean-centred map tangermeme returns
    }
    for layer in model.layers:
        for index, weight in enumerate(layer.get_weights()):
            arrays[f"{layer.name}/{index}"] = weight
    data = folder / "tangermeme.npz"
    np.savez(data, **arrays)
    script = Path(__file__).resolve().parent / "peers" / "tangermeme_attribution.py"
    command = [args.tangermeme_python, str(script), str(data), "--threads", str(threads)]
    command += ["--batch-size", str(args.batch_size)]
    reply = subprocess.run(command, capture_output=True, text=True, check=True)
    peer = json.loads(reply.stdout.strip().splitlines()[-1])
    print(
        f"\n3. tangermeme on a torch copy ({peer['threads']} threads; logits differ by at most "
        f"{peer['logits_max_diff']:.1e}; its saliency by {peer['saliency_max_diff']:.1e}, "
        f"its ISM by {peer['ism_max_diff']:.1e} from motiflens'):"
    )
    pairs = [
        ("saliency", "saliency"),
        ("ism (fast)", "ism (fast)"),
        ("ism (fast)", "ism_naive"),
        ("deepshap", "deepshap"),
    ]
    for ours, theirs in pairs:
        label = {"ism_naive": "ism (fast=False)"}.get(theirs, theirs)
        rate = args.num_sequences / peer["seconds"][theirs]
        ratio = peer["seconds"][theirs] / seconds[ours]
        print(
            f"   motiflens {ours:<12} / tangermeme {label:<17} {ratio:6.2f}x   (tangermeme {rate:.1f} seq/s)"
        )


if __name__ == "__main__":
    main()
