"""Training throughput of motiflens.training against a bare ``model.fit``.

Prints, for CNN-deep with an exponential first layer on Task 1:

1. sequences/s of ``motiflens.training.train`` and of a bare Keras ``model.fit``
   on the same model configuration, data and epochs, measured in the same run and
   interleaved (bare, recipe, bare, recipe, ...). The baseline gets
   ``validation_data`` so both evaluate the validation set once per epoch; the
   ratio recipe / bare is the figure (target >= 0.95).
2. the epoch time of CNN-deep on full-size Task 1 (21,000 training sequences).
3. with ``--full-run``: a full-size run of ``--full-epochs`` epochs (default 15)
   and its test AUPR/AUROC (the paper's recipe reaches about 0.7 AUPR there).

Usage: ``python bench/train_throughput.py [--num-sequences 10000] [--epochs 3]
[--repeats 2] [--full-run]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-sequences", type=int, default=10_000, help="Task 1 size for the ratio")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per timed fit")
    parser.add_argument("--repeats", type=int, default=2, help="timed fits per method")
    parser.add_argument("--full-run", action="store_true", help="also train full-size Task 1 to test AUPR")
    parser.add_argument("--full-epochs", type=int, default=15)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    import keras
    import tensorflow as tf

    from motiflens.models import build_model
    from motiflens.synthetic import make_task1
    from motiflens.training import TrainConfig, compile_for_training, train

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, TensorFlow {tf.__version__}, "
        f"GPUs: {len(tf.config.list_physical_devices('GPU'))}"
    )

    def fresh_model():
        return build_model(
            architecture="cnn_deep", input_length=200, num_outputs=12, activation="exponential", seed=0
        )

    task = make_task1(args.num_sequences, seed=0)
    data = task.dataset
    config = TrainConfig(epochs=args.epochs, early_stopping_patience=None, seed=0)
    n_train = len(data.train)

    def run_bare() -> float:
        model = fresh_model()
        keras.utils.set_random_seed(0)
        compile_for_training(model, config)
        start = time.perf_counter()
        model.fit(
            data.train.X,
            data.train.y,
            batch_size=config.batch_size,
            epochs=config.epochs,
            validation_data=(data.valid.X, data.valid.y),
            shuffle=True,
            verbose=0,
        )
        return time.perf_counter() - start

    def run_recipe() -> float:
        result = train(fresh_model(), data, config)
        return result.seconds

    # Warm-up: the first fit in a process pays for graph tracing.
    run_bare()
    bare, recipe = [], []
    for _ in range(args.repeats):
        bare.append(run_bare())
        recipe.append(run_recipe())
    bare_rate = n_train * args.epochs / statistics.median(bare)
    recipe_rate = n_train * args.epochs / statistics.median(recipe)
    print(
        f"\n1. throughput, CNN-deep/exponential, {n_train} training sequences × {args.epochs} epochs, "
        f"median of {args.repeats}:"
    )

    def fits(seconds: list[float]) -> str:
        return ", ".join(f"{s:.1f}s" for s in seconds)

    print(f"   bare model.fit      {bare_rate:9.0f} sequences/s   (fits: {fits(bare)})")
    print(f"   motiflens.train     {recipe_rate:9.0f} sequences/s   (fits: {fits(recipe)})")
    print(f"   ratio recipe/bare   {recipe_rate / bare_rate:9.3f}   (target >= 0.95)")

    full = make_task1(30_000, seed=0)
    epochs = args.full_epochs if args.full_run else 2
    result = train(fresh_model(), full.dataset, TrainConfig(epochs=epochs, seed=0))
    epoch_seconds = [event.seconds for event in result.history]
    print(
        f"\n2. epoch time, CNN-deep on full-size Task 1 ({len(full.dataset.train)} training sequences): "
        f"median {statistics.median(epoch_seconds):.1f} s/epoch over {len(epoch_seconds)} epochs "
        "(includes the validation pass)"
    )
    if args.full_run:
        print(
            f"\n3. full-size run, {epochs} epochs: test AUPR {result.test_metrics['aupr']:.3f}, "
            f"AUROC {result.test_metrics['auroc']:.3f}, best epoch {result.best_epoch}, "
            f"{result.seconds:.0f} s"
        )


if __name__ == "__main__":
    main()
