"""Training throughput of motiflens.training against a bare ``model.fit``.

Prints, for CNN-deep with an exponential first layer on Task 1:

1. sequences/s of ``motiflens.training.train`` and of a bare Keras ``model.fit``
   on the same model configuration, data and epochs, measured in the same run and
   interleaved (bare, recipe, bare, recipe, ...). The baseline gets
   ``validation_data`` so both evaluate the validation set once per epoch; the
   ratio recipe / bare is the figure (target >= 0.95).
   Both are also given as GFLOP/s (:func:`motiflens.flops.training_flops` per
   training sequence, :func:`~motiflens.flops.forward_flops` per validation
   sequence) and as the fraction of the float32 GEMM rate measured in the same run
   on the same threads (bench/rates.py).
2. with ``--torch-python``: the same epochs through a plain PyTorch loop
   (bench/peers/torch_train.py, in its own virtual environment: bench/peers/README.md)
   on the same data, batch size and thread count, interleaved with the others; the
   ratio motiflens.train / torch (issue 19's target: >= 1).
3. the epoch time of CNN-deep on full-size Task 1 (21,000 training sequences).
4. with ``--full-run``: a full-size run of ``--full-epochs`` epochs (default 15)
   and its test AUPR/AUROC (the paper's recipe reaches about 0.7 AUPR there).

Usage: ``python bench/train_throughput.py [--num-sequences 10000] [--epochs 3]
[--repeats 2] [--threads 0] [--torch-python PATH] [--full-run] [--skip-full-size]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from rates import gemm_rate, set_threads

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-sequences", type=int, default=10_000, help="Task 1 size for the ratio")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per timed fit")
    parser.add_argument("--repeats", type=int, default=2, help="timed fits per method")
    parser.add_argument("--full-run", action="store_true", help="also train full-size Task 1 to test AUPR")
    parser.add_argument("--full-epochs", type=int, default=15)
    parser.add_argument("--skip-full-size", action="store_true", help="leave out the full-size epoch time")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: one per CPU)")
    parser.add_argument("--torch-python", help="python of a venv with torch (bench/peers/README.md)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    import keras
    import numpy as np
    import tensorflow as tf

    threads = args.threads or os.cpu_count() or 1
    set_threads(threads)
    from motiflens.flops import forward_flops, training_flops
    from motiflens.models import build_model
    from motiflens.synthetic import make_task1
    from motiflens.training import TrainConfig, compile_for_training, train

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, TensorFlow {tf.__version__}, "
        f"GPUs: {len(tf.config.list_physical_devices('GPU'))}, {threads} intra-op threads"
    )

    def fresh_model():
        return build_model(
            architecture="cnn_deep", input_length=200, num_outputs=12, activation="exponential", seed=0
        )

    task = make_task1(args.num_sequences, seed=0)
    data = task.dataset
    config = TrainConfig(epochs=args.epochs, early_stopping_patience=None, seed=0)
    n_train = len(data.train)

    class EpochTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    # Each run returns the seconds of its epochs (the first includes the graph tracing).
    def run_bare() -> list[float]:
        model = fresh_model()
        keras.utils.set_random_seed(0)
        compile_for_training(model, config)
        times = EpochTimes()
        model.fit(
            data.train.X,
            data.train.y,
            batch_size=config.batch_size,
            epochs=config.epochs,
            validation_data=(data.valid.X, data.valid.y),
            shuffle=True,
            verbose=0,
            callbacks=[times],
        )
        return times.seconds

    def run_recipe() -> list[float]:
        result = train(fresh_model(), data, config)
        return [event.seconds for event in result.history]

    folder = Path(tempfile.mkdtemp(prefix="motiflens-bench-"))
    torch_data = folder / "task1.npz"
    np.savez(
        torch_data,
        X_train=data.train.X.astype(np.float32),
        y_train=data.train.y.astype(np.float32),
        X_valid=data.valid.X.astype(np.float32),
        y_valid=data.valid.y.astype(np.float32),
    )

    def run_torch() -> list[float]:
        script = Path(__file__).resolve().parent / "peers" / "torch_train.py"
        command = [args.torch_python, str(script), str(torch_data), "--epochs", str(args.epochs)]
        command += ["--batch-size", str(config.batch_size), "--threads", str(threads)]
        reply = subprocess.run(command, capture_output=True, text=True, check=True)
        return json.loads(reply.stdout.strip().splitlines()[-1])["epoch_seconds"]

    # Warm-up: the first fit in a process pays for graph tracing.
    run_bare()
    ways = {"bare model.fit": run_bare, "motiflens.train": run_recipe}
    if args.torch_python:
        ways["torch loop"] = run_torch
    epochs: dict[str, list[list[float]]] = {name: [] for name in ways}
    for _ in range(args.repeats):
        for name, run in ways.items():
            epochs[name].append(run())
    # Whole fits (tracing included) and steady epochs (the second on: what a long run sees).
    whole = {name: [sum(fit) for fit in fits] for name, fits in epochs.items()}
    steady = {name: [s for fit in fits for s in fit[1:]] for name, fits in epochs.items()}
    rates = {name: n_train * args.epochs / statistics.median(values) for name, values in whole.items()}
    steady_rates = {name: n_train / statistics.median(values) for name, values in steady.items() if values}
    gemm = gemm_rate()
    model = fresh_model()
    # FLOPs of one epoch per training sequence: its step, plus its share of the validation pass.
    per_sequence = training_flops(model) + len(data.valid) / n_train * forward_flops(model)
    print(
        f"\n1. throughput, CNN-deep/exponential, {n_train} training sequences × {args.epochs} epochs "
        f"(validation predicted once per epoch), median of {args.repeats}, interleaved:"
    )
    print(
        f"   training {training_flops(model) / 1e6:.1f} MFLOP/sequence (3 x forward "
        f"{forward_flops(model) / 1e6:.2f}); float32 GEMM {gemm:.0f} GFLOP/s on {threads} threads "
        "(same run)"
    )

    def fits(values: list[float]) -> str:
        return ", ".join(f"{s:.1f}s" for s in values)

    print(f"   {'':<18} {'whole fits (tracing included)':^44}   {'steady epochs (2nd on)':^44}")
    for name, rate in rates.items():
        achieved = rate * per_sequence / 1e9
        line = f"   {name:<18} {rate:7.0f} seq/s {achieved:6.1f} GFLOP/s {achieved / gemm:6.1%} of GEMM"
        if name in steady_rates:
            held = steady_rates[name] * per_sequence / 1e9
            line += f"   {steady_rates[name]:7.0f} seq/s {held:6.1f} GFLOP/s {held / gemm:6.1%} of GEMM"
        print(line + f"   (fits: {fits(whole[name])})")
    print(
        f"   ratio recipe/bare   {rates['motiflens.train'] / rates['bare model.fit']:9.3f}   (target >= 0.95)"
    )
    if "torch loop" in rates:
        ratio = rates["motiflens.train"] / rates["torch loop"]
        held = steady_rates.get("motiflens.train", 0) / steady_rates.get("torch loop", 1)
        print(
            f"\n2. ratio motiflens.train / torch loop: {ratio:.3f} whole fits, {held:.3f} steady epochs "
            "(target >= 1)"
        )
    else:
        print("\n2. torch loop: not run (pass --torch-python; bench/peers/README.md)")
    if args.skip_full_size:
        return

    full = make_task1(30_000, seed=0)
    epochs = args.full_epochs if args.full_run else 2
    result = train(fresh_model(), full.dataset, TrainConfig(epochs=epochs, seed=0))
    epoch_seconds = [event.seconds for event in result.history]
    print(
        f"\n3. epoch time, CNN-deep on full-size Task 1 ({len(full.dataset.train)} training sequences): "
        f"median {statistics.median(epoch_seconds):.1f} s/epoch over {len(epoch_seconds)} epochs "
        "(includes the validation pass)"
    )
    if args.full_run:
        print(
            f"\n4. full-size run, {epochs} epochs: test AUPR {result.test_metrics['aupr']:.3f}, "
            f"AUROC {result.test_metrics['auroc']:.3f}, best epoch {result.best_epoch}, "
            f"{result.seconds:.0f} s"
        )


if __name__ == "__main__":
    main()
