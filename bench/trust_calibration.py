"""Calibrate the trust report on the paper's contrast: exponential vs relu first layers.

Through the local stack (``Client.local``, a temporary store): for each task (1 and 3)
generate the data set (``--num-sequences``, seed 0), train CNN-deep and CNN-dist with a
relu and an exponential first layer (up to ``--epochs``, early stopping, seed 0), then
``ScoreTrust`` on test sequences (Task 3: the first ``--limit`` test rows' positives;
Task 1: the first ``--limit`` test rows; output unit 0) with the paper's ground truth
beside the ground-truth-free scores. Prints one row per model and writes
``--output`` (a JSON list of the reports and a Markdown table) when given.

A ground-truth-free score "ranks exponential above relu" for a (task, architecture) when
the exponential model's value is higher (lower for the off-simplex fraction, which is
noise). The paper's ground-truth scores (filter match fraction for Task 1,
interpretability AUROC for Task 3) rank exponential above relu.

Usage: ``python bench/trust_calibration.py [--num-sequences 10000] [--epochs 25]
[--limit 400] [--tasks 1,3] [--output docs/results/trust]``
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ARCHITECTURES = ("cnn_deep", "cnn_dist")
ACTIVATIONS = ("relu", "exponential")
#: Scores compared, and whether higher is better.
SCORES = {
    "filter_match_excess": True,
    "mean_method_agreement": True,
    "reference_stability": True,
    "reverse_complement_stability": True,
    "off_simplex_fraction": False,
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-sequences", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--limit", type=int, default=400, help="test rows scored")
    parser.add_argument("--tasks", default="1,3")
    parser.add_argument("--output", type=Path, help="folder for trust.json and trust.md")
    return parser.parse_args()


def calibrate(client, task: int, *, num_sequences: int, epochs: int, limit: int) -> list[dict]:
    """One report per (architecture, activation) on one task."""
    from motiflens_client import DatasetSplit

    data = client.create_task(
        task, num_sequences=num_sequences, seed=0, name=f"trust calibration task {task}"
    )
    rows = []
    for architecture in ARCHITECTURES:
        for activation in ACTIVATIONS:
            started = time.perf_counter()
            job = client.train(
                data.dataset_id, architecture=architecture, activation=activation, epochs=epochs, patience=5
            )
            info = job.wait(progress=False)
            trained = time.perf_counter() - started
            report = client.trust_report(
                info.model_id,
                DatasetSplit(data.dataset_id, "test", limit=limit),
                positives_only=task == 3,
                timeout=3600,
            )
            row = {
                "task": task,
                "architecture": architecture,
                "activation": activation,
                "test_auroc": info.test_metrics.auroc,
                "train_seconds": round(trained),
                **json.loads(report.json),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    """The calibration table, and per (task, architecture) which scores rank exponential first."""
    header = (
        "| task | model | activation | test AUROC | filter match (chance) | method agreement | "
        "reference stability | RC stability | off-simplex | GT saliency AUROC | GT DeepSHAP AUROC |"
    )
    lines = [header, "|" + "---|" * 11]
    for row in rows:
        truth = row.get("ground_truth", {})
        saliency = truth.get("saliency", {}).get("auroc", float("nan"))
        deepshap = truth.get("deepshap", {}).get("auroc", float("nan"))
        cells = [
            row["task"],
            row["architecture"],
            row["activation"],
            f"{row['test_auroc']:.3f}",
            f"{row['filter_match']:.3f} ({row['filter_match_chance']:.3f})",
            f"{row['mean_method_agreement']:.3f}",
            f"{row['reference_stability']:.3f}",
            f"{row['reverse_complement_stability']:.3f}",
            f"{row['off_simplex_fraction']:.3f}",
            f"{saliency:.3f}",
            f"{deepshap:.3f}",
        ]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    lines += ["", "| task | model | " + " | ".join(SCORES) + " |", "|" + "---|" * (2 + len(SCORES))]
    for task in sorted({row["task"] for row in rows}):
        for architecture in ARCHITECTURES:
            pair = {
                r["activation"]: r for r in rows if r["task"] == task and r["architecture"] == architecture
            }
            if set(pair) != set(ACTIVATIONS):
                continue
            marks = []
            for score, higher in SCORES.items():
                relu, exponential = pair["relu"][score], pair["exponential"][score]
                marks.append("exp > relu" if (exponential > relu) == higher else "relu ≥ exp")
            lines.append(f"| {task} | {architecture} | " + " | ".join(marks) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    from motiflens_client import Client

    rows: list[dict] = []
    with Client.local(temporary=True, timeout=3600) as client:
        for task in (int(t) for t in args.tasks.split(",")):
            rows += calibrate(
                client, task, num_sequences=args.num_sequences, epochs=args.epochs, limit=args.limit
            )
    table = markdown(rows)
    print(table)
    if args.output is not None:
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "trust.json").write_text(json.dumps(rows, indent=1) + "\n")
        (args.output / "trust.md").write_text(table)


if __name__ == "__main__":
    main()
