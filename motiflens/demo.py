"""End-to-end example of the core library (what ``make demo`` runs for now).

Generates the paper's Task 1, trains CNN-deep with a relu and with an exponential
first layer using the paper's recipe, and prints their test classification
metrics side by side. Each run's artefacts (model, configs, history, metrics) go
to ``--output`` (default ``demo-output/``).

Filter motifs, Tomtom matching and the service stack are not part of this example
yet: they arrive with the interpretation library and the services; this demo then
becomes the full one described in the README.

Run ``python -m motiflens.demo --help`` for the options.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options of the demo."""
    parser = argparse.ArgumentParser(prog="python -m motiflens.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--num-sequences", type=int, default=10_000, help="Task 1 size (default 10000)")
    parser.add_argument("--epochs", type=int, default=10, help="maximum epochs per model (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data and models (default 0)")
    parser.add_argument(
        "--activations",
        default="relu,exponential",
        help="comma-separated first-layer activations (default relu,exponential)",
    )
    parser.add_argument("--output", type=Path, default=Path("demo-output"), help="artefact folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the process exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    # Imported here so that --help answers without loading TensorFlow.
    from motiflens.activations import get_activation
    from motiflens.errors import MotiflensError
    from motiflens.models import build_model
    from motiflens.synthetic import make_task1
    from motiflens.training import TrainConfig, TrainingCallback, train

    class PrintProgress(TrainingCallback):
        def __init__(self, label: str):
            self.label = label

        def on_epoch_end(self, event):
            print(
                f"  [{self.label}] epoch {event.epoch:3d}  loss {event.loss:.4f}  "
                f"val AUPR {event.val_aupr:.4f}  val AUROC {event.val_auroc:.4f}  "
                f"lr {event.learning_rate:.1e}  {event.seconds:.1f}s",
                flush=True,
            )

    try:
        activations = [name.strip() for name in args.activations.split(",") if name.strip()]
        for activation in activations:
            get_activation(activation)  # fail before any work on a misspelt name
        print(
            f"motiflens demo: Task 1 with {args.num_sequences} sequences (seed {args.seed}), "
            f"CNN-deep × {', '.join(activations)}, up to {args.epochs} epochs each, "
            f"batch 100, Adam 1e-3 (the paper's recipe; the paper used 30000 sequences, 100 epochs)",
            flush=True,
        )
        start = time.perf_counter()
        task = make_task1(args.num_sequences, seed=args.seed)
        args.output.mkdir(parents=True, exist_ok=True)
        task.save(args.output / "task1.h5")
        print(
            f"data: {len(task.dataset.train)}/{len(task.dataset.valid)}/{len(task.dataset.test)} "
            f"train/valid/test sequences written to {args.output / 'task1.h5'}",
            flush=True,
        )
        rows = []
        for activation in activations:
            model = build_model(
                architecture="cnn_deep",
                input_length=task.dataset.sequence_length,
                num_outputs=task.dataset.num_targets,
                activation=activation,
                seed=args.seed,
            )
            result = train(
                model,
                task.dataset,
                TrainConfig(epochs=args.epochs, seed=args.seed),
                callbacks=[PrintProgress(activation)],
                output_dir=args.output / f"cnn_deep-{activation}",
            )
            rows.append((activation, result))
    except MotiflensError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    print("\nTest-set classification (best-validation weights):")
    print(f"{'activation':<14}{'AUROC':>8}{'AUPR':>8}{'best epoch':>12}{'train s':>10}")
    summary = {}
    for activation, result in rows:
        metrics = result.test_metrics
        print(
            f"{activation:<14}{metrics['auroc']:>8.3f}{metrics['aupr']:>8.3f}"
            f"{result.best_epoch:>12d}{result.seconds:>10.1f}"
        )
        summary[activation] = result.summary()
    (args.output / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"\nartefacts: {args.output.resolve()}  (total {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
