"""End-to-end demo behind ``make demo``: relu vs exponential first layers, through the services.

Starts the three services on loopback (``Client.local()``, file store under
``<output>/store``), generates the paper's Task 1, trains CNN-deep with a relu and
with an exponential first layer, turns each model's first-layer filters into
motifs on the test set, matches them against JASPAR 2016 with Tomtom, prints the
comparison and writes an HTML report (with ``results.json``/``results.csv``) to
``<output>/report/``. With ``--address`` the same steps run against services
that are already up (``make up``, or a Kubernetes deployment behind
``kubectl port-forward``); that store then keeps the data set and models.

An application of the client (layer 4): it uses the SDK, the experiment runner and
the report only, so it never loads TensorFlow (the services run in their own processes).

Run ``python -m motiflens_client.experiments.demo --help`` for the options.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from motiflens_client import Client, MotiflensClientError
from motiflens_client.experiments.report import write_report
from motiflens_client.experiments.runner import Experiment

#: Defaults sized for a 2-core machine (about 15 minutes); the paper: 30,000 sequences, 100 epochs.
DEFAULT_NUM_SEQUENCES = 30_000
DEFAULT_EPOCHS = 25
DEFAULT_PATIENCE = 8
ARCHITECTURE = "cnn_deep"
#: Test sequences of each model's trust report (Client.trust_report) in the demo.
DEFAULT_TRUST_SEQUENCES = 200


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options of the demo."""
    parser = argparse.ArgumentParser(
        prog="python -m motiflens_client.experiments.demo", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--num-sequences",
        type=int,
        default=DEFAULT_NUM_SEQUENCES,
        help=f"Task 1 size (default {DEFAULT_NUM_SEQUENCES}: 70/10/20%% train/valid/test)",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=DEFAULT_EPOCHS,
        help=f"maximum epochs per model (default {DEFAULT_EPOCHS})",
    )
    parser.add_argument(
        "--patience",
        type=int,
        default=DEFAULT_PATIENCE,
        help=f"early stopping after this many epochs without improvement (default {DEFAULT_PATIENCE})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of data and models (default 0)")
    parser.add_argument(
        "--trust-sequences",
        type=int,
        default=DEFAULT_TRUST_SEQUENCES,
        help=f"test sequences of each model's trust report (default {DEFAULT_TRUST_SEQUENCES}; 0: none)",
    )
    parser.add_argument(
        "--activations",
        default="relu,exponential",
        help="comma-separated first-layer activations (default relu,exponential)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("demo-output"),
        help="folder for the local store (store/) and the report (report/); default demo-output",
    )
    parser.add_argument(
        "--address",
        default=None,
        help="use running services (trainer HOST:PORT; interpreter and motifmatch on the next two "
        "ports) instead of starting them locally",
    )
    parser.add_argument("--token", default=None, help="bearer token for --address (default none)")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    args = parser.parse_args(argv)
    for name in ("num_sequences", "epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: expected >= 1, got {getattr(args, name)}")
    if args.patience < 1:
        parser.error(f"--patience: expected >= 1, got {args.patience}")
    return args


def comparison_table(result) -> str:
    """The demo's comparison: one line per run (classification and filter statistics).

    Parameters
    ----------
    result : motiflens_client.experiments.ExperimentResult

    Returns
    -------
    str
        A fixed-width text table, one header line and one line per run.
    """
    header = (
        f"{'activation':<13}{'epochs':>7}{'test AUROC':>12}{'test AUPR':>11}"
        f"{'match ground truth':>20}{'match any JASPAR':>18}{'TFs covered':>13}"
    )
    lines = [header, "-" * len(header)]
    for run in result.runs:
        count = run.filters.num_filters if run.filters is not None else 0
        matched = round(run.match_fraction * count)
        lines.append(
            f"{run.activation:<13}{run.epochs:>7d}{run.test_auroc:>12.3f}{run.test_aupr:>11.3f}"
            f"{f'{run.match_fraction:.2f} ({matched}/{count})':>20}{run.match_any_fraction:>18.2f}"
            f"{f'{len(run.covered_tfs)}/12':>13}"
        )
    return "\n".join(lines)


def kubernetes_hint() -> str:
    """How to point the same steps at a Kubernetes deployment (short)."""
    return (
        "On Kubernetes (once deploy/ is applied, e.g. `kubectl apply -k deploy/overlays/gpu`, see\n"
        "deploy/README.md; namespace motiflens), forward the "
        "three services and run the same steps against them:\n"
        "  kubectl port-forward -n motiflens svc/trainer 50051 &\n"
        "  kubectl port-forward -n motiflens svc/interpreter 50052 &\n"
        "  kubectl port-forward -n motiflens svc/motifmatch 50053 &\n"
        "  python -m motiflens_client.experiments.demo --address 127.0.0.1:50051   # this demo\n"
        "  motiflens --address 127.0.0.1:50051 ...                                  "
        "# or the CLI, step by step\n"
        "The cluster's store then keeps the data set and models; the report is written locally."
    )


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the process exit code (0 ok, 2 on a service or input error)."""
    args = parse_args(argv)
    activations = [name.strip() for name in args.activations.split(",") if name.strip()]
    if not activations:
        print("error: --activations: expected at least one name", file=sys.stderr)
        return 2
    output = args.output.resolve()
    report_dir = output / "report"
    print(
        f"motiflens demo: Task 1 with {args.num_sequences} sequences (data seed {args.seed}), "
        f"{ARCHITECTURE} × {', '.join(activations)} (model seed {args.seed}), up to {args.epochs} epochs "
        f"each with early-stopping patience {args.patience}, batch 100, Adam 1e-3; filters on the "
        f"test set, Tomtom (MEME 5 defaults, Euclidean distance) vs JASPAR 2016 (E < 0.1). One seed, "
        "as an example: the paper's figures are over 10 seeds of up to 100 epochs (make reproduce).",
        flush=True,
    )
    started = time.perf_counter()
    experiment = Experiment(
        task=1,
        models=[ARCHITECTURE],
        activations=activations,
        seeds=[args.seed],
        num_sequences=args.num_sequences,
        epochs=args.epochs,
        patience=args.patience,
        data_seed=args.seed,
        name="demo",
        trust_sequences=args.trust_sequences,
    )
    try:
        if args.address:
            print(f"services: {args.address} (+1, +2)", flush=True)
            client = Client(args.address, token=args.token)
        else:
            store = output / "store"
            print(f"starting trainer, interpreter and motifmatch on loopback (store {store}) ...", flush=True)
            client = Client.local(store=store.as_uri())
        with client:
            result = experiment.run(client, progress=not args.quiet)
        result.save(report_dir)
        report = write_report(result, report_dir)
    except MotiflensClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sizes = result.dataset
    print(
        f"\nTask 1 ({sizes['num_train']}/{sizes['num_valid']}/{sizes['num_test']} train/valid/test), "
        f"{ARCHITECTURE}: test metrics of the best-validation weights; fraction of first-layer "
        f"filters whose Tomtom hits include a ground-truth TF / any JASPAR 2016 motif:\n"
    )
    print(comparison_table(result))
    if any(run.trust for run in result.runs):
        print(
            f"\nTrust reports without ground truth ({args.trust_sequences} test sequences; "
            "higher is better):\n"
        )
        print(trust_table(result))
    print(
        "\nOne seed per activation, as an example of the method; the paper's result is the mean "
        "over 10 seeds (`make reproduce BUDGET=paper`)."
    )
    print(f"\nreport: {report}  (results.json, results.csv beside it)")
    print(f"total {time.perf_counter() - started:.0f} s\n")
    print(kubernetes_hint())
    return 0


def trust_table(result) -> str:
    """One line per model: filter match vs chance, method agreement, reference and RC stability."""
    lines = [f"{'activation':<12} {'filters (chance)':>16} {'methods':>8} {'references':>10} {'RC':>6}"]
    for run in result.runs:
        trust = run.trust
        if not trust:
            continue
        match = trust.get("filter_match")
        filters = "-" if match is None else f"{match:.2f} ({trust['filter_match_chance']:.2f})"
        lines.append(
            f"{run.activation:<12} {filters:>16} {trust['mean_method_agreement']:>8.3f} "
            f"{trust['reference_stability']:>10.3f} {trust['reverse_complement_stability']:>6.3f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
