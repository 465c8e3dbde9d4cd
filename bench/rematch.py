"""Recompute the Tomtom-dependent figures of saved experiment results with a chosen distance.

Every run in an experiment's ``results.json`` (``motiflens_client.experiments``) keeps
its first-layer filter PWMs and site counts, so the match fractions can be computed
again without retraining: trim each filter as MatchFilters does (0.5 bits, 3 columns
of padding), run :func:`motiflens.tomtom.tomtom` against the experiment's database
(E <= 0.1), and count matches with :func:`motiflens.matching.match_statistics` and
the task's ground truth (Task 1's map, Task 3's for Task 3 experiments). The stored
figures are printed beside the recomputed ones, mean over seeds per model and
activation; ``--dist pearson`` reproduces figures computed with the Pearson
statistic, which checks the recomputation itself.

Usage: ``python bench/rematch.py docs/results/small/experiments/*/results.json [--dist ed]``
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

import numpy as np
from motiflens_client.experiments import TASK3_GROUND_TRUTH

from motiflens.matching import (  # trimmed as MatchFilters does
    TASK1_GROUND_TRUTH,
    TRIM_PADDING,
    TRIM_THRESHOLD,
    hits_by_filter,
    match_statistics,
)
from motiflens.motifs import Motif, motif_database
from motiflens.tomtom import DEFAULT_DISTANCE, DISTANCES, tomtom


def rematch_run(run: dict, database, ground_truth, distance: str) -> tuple[float, float]:
    """(match_fraction, match_any_fraction) of one stored run's filters."""
    filters = run["filters"]
    motifs = []
    for index, (pwm, sites) in enumerate(zip(filters["pwms"], filters["num_sites"], strict=True)):
        trimmed = Motif(f"filter{index}", "", np.asarray(pwm, float), nsites=sites).trim(
            TRIM_THRESHOLD, TRIM_PADDING
        )
        if trimmed is not None:
            motifs.append(trimmed)
    hits = tomtom(motifs, database, distance=distance) if motifs else []
    result = match_statistics(hits_by_filter(hits), len(filters["pwms"]), ground_truth=ground_truth)
    return result.match_fraction, result.match_any_fraction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="+", type=Path, help="results.json files of experiments")
    parser.add_argument("--dist", choices=DISTANCES, default=DEFAULT_DISTANCE)
    args = parser.parse_args()
    print(f"{'experiment':<28}{'model/activation':<44}{'stored':>16}{'  ' + args.dist:>18}")
    for path in args.results:
        data = json.loads(path.read_text())
        if "config" not in data or "runs" not in data:
            print(f"{path.parent.name:<28}(not an Experiment result; skipped)")
            continue
        config = data["config"]
        database = motif_database(config.get("database") or "JASPAR2016")
        ground_truth = TASK3_GROUND_TRUTH if config.get("task") == 3 else TASK1_GROUND_TRUTH
        groups: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
        for run in data["runs"]:
            if not run.get("filters"):
                continue
            new = rematch_run(run, database, ground_truth, args.dist)
            groups[f"{run['model']}/{run['activation']}"].append(
                (run["match_fraction"], run["match_any_fraction"], *new)
            )
        for name, rows in groups.items():
            old_gt, old_any, new_gt, new_any = (statistics.mean(column) for column in zip(*rows, strict=True))
            print(
                f"{path.parent.name:<28}{name:<44}{old_gt:>7.3f} / {old_any:<6.3f}"
                f"{new_gt:>9.3f} / {new_any:<6.3f}  (n={len(rows)}; ground truth / any JASPAR)"
            )


if __name__ == "__main__":
    main()
