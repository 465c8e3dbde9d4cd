"""Motif discovery end to end through the services: which of Task 3's planted core motifs come back.

Starts the local stack (``Client.local``, a temporary store), generates Task 3
(``--num-sequences``, seed 0), trains CNN-local with the chosen first-layer activation
(up to ``--epochs``, early stopping), then runs ``DiscoverMotifs`` on the test split's
positives (DeepSHAP, 10 shuffled references; TF-MoDISco with modisco-lite's command-line
defaults; Tomtom against JASPAR 2016 CORE vertebrates, E <= 0.1). Prints every pattern
with its best hit, then for each of the five core motifs (SP1, Gabpa, CEBPB, MAX, YY1)
whether some pattern has a significant hit to that TF's JASPAR matrix, and the seconds
each step took.

Usage: ``python bench/discover_motifs.py [--num-sequences 10000] [--epochs 15]
[--activation exponential]``
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: Task 3's core TFs -> the JASPAR 2016 matrices that count as "the right TF" (the
#: planted matrix's versions, as matching.TASK1_GROUND_TRUTH lists them).
CORE_TFS = ("SP1", "Gabpa", "CEBPB", "MAX", "YY1")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-sequences", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--activation", default="exponential")
    parser.add_argument("--architecture", default="cnn_local")
    return parser.parse_args()


def recovered_core_motifs(result) -> dict[str, tuple[str, float] | None]:
    """Core TF -> (pattern name, E-value) of its most significant hit among positive patterns, or None."""
    from motiflens.matching import TASK1_GROUND_TRUTH

    found: dict[str, tuple[str, float] | None] = {tf: None for tf in CORE_TFS}
    for pattern in result.patterns:
        if pattern.sign != "positive":
            continue
        for hit in pattern.matches:
            for tf in CORE_TFS:
                best = found[tf]
                if hit.target_id in TASK1_GROUND_TRUTH[tf] and (best is None or hit.e_value < best[1]):
                    found[tf] = (pattern.name, hit.e_value)
    return found


def run(client, *, num_sequences: int, epochs: int, activation: str, architecture: str = "cnn_local") -> dict:
    """Generate, train, discover; the result, the recovered table and step times."""
    from motiflens_client import DatasetSplit

    times = {}
    started = time.perf_counter()
    dataset = client.create_task(3, num_sequences=num_sequences, seed=0, name="discovery bench")
    times["generate"] = time.perf_counter() - started
    started = time.perf_counter()
    job = client.train(
        dataset.dataset_id,
        architecture=architecture,
        activation=activation,
        epochs=epochs,
        patience=5,
        seed=0,
    )
    info = job.wait(progress=False)
    times["train"] = time.perf_counter() - started
    started = time.perf_counter()
    result = client.discover_motifs(
        info.model_id, DatasetSplit(dataset.dataset_id, "test"), positives_only=True, name="discovery bench"
    )
    times["discover"] = time.perf_counter() - started
    return {"result": result, "recovered": recovered_core_motifs(result), "times": times, "job": info}


def main() -> None:
    args = parse_args()
    from motiflens_client import Client

    with Client.local(temporary=True, timeout=3600) as client:
        report = run(
            client,
            num_sequences=args.num_sequences,
            epochs=args.epochs,
            activation=args.activation,
            architecture=args.architecture,
        )
    result, job = report["result"], report["job"]
    print(
        f"Task 3 ({args.num_sequences} sequences), {args.architecture}/{args.activation}: "
        f"test AUROC {job.test_metrics.auroc:.3f}; DiscoverMotifs on {result.num_sequences} test positives"
    )
    print(f"{'pattern':26} {'seqlets':>7}  best hit (E)")
    for pattern in result.patterns:
        best = pattern.best_match
        hit = f"{best.target_name} {best.target_id} ({best.e_value:.2g})" if best else "-"
        print(f"{pattern.name:26} {pattern.num_seqlets:7d}  {hit}")
    recovered = report["recovered"]
    count = sum(found is not None for found in recovered.values())
    print(f"core motifs recovered (E < 0.1 to the TF's JASPAR matrix): {count}/5")
    for tf, found in recovered.items():
        print(f"  {tf:6} {'-' if found is None else f'{found[0]} (E {found[1]:.2g})'}")
    print("seconds: " + ", ".join(f"{step} {seconds:.0f}" for step, seconds in report["times"].items()))


if __name__ == "__main__":
    main()
