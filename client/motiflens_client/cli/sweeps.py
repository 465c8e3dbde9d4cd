"""``motiflens sweep``: grids of training jobs, architectures x activations x seeds (trainer)."""

from __future__ import annotations

import argparse

from motiflens_client.cli._args import (
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    EXIT_OK,
    PROG,
    CliError,
    Commands,
    add_first_layer_l2,
    command,
    group,
    non_negative_float,
    non_negative_int,
    param,
    word_list,
)
from motiflens_client.cli._output import out, print_fields, print_json, print_table, progress_choice
from motiflens_client.sdk import Client, Sweep
from motiflens_client.types import JobInfo, SweepInfo


def activation_choice(text: str) -> tuple[str, dict[str, float]]:
    """Parse "exponential" or "scaled_exponential:scale=2" (parameters after ":", separated by ";")."""
    name, _, rest = text.partition(":")
    params = dict(param(part) for part in rest.split(";") if part.strip())
    if not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME or NAME:PARAM=NUMBER, got {text!r}")
    return name.strip(), params


def register(commands: Commands) -> None:
    """The ``sweep`` group: start, get, wait, cancel, list."""
    sub = group(commands, "sweep", "grids of training jobs: architectures x activations x seeds (trainer)")
    parser = command(
        sub,
        "start",
        _start,
        "start a sweep and print its id (with --_wait, follow it to the end)",
        description=(
            "One training job per (architecture, activation, initializer, seed). Out of a cluster the\n"
            "trainer's worker processes run them; in a cluster one Kubernetes Indexed Job does.\n"
            "Example: motiflens sweep start DS --architectures cnn_2,cnn_50,cnn_deep \\\n"
            "           --activations exponential,relu,scaled_exponential:scale=2 --seeds 0,1,2"
        ),
    )
    parser.add_argument("dataset_id", metavar="DATASET_ID")
    parser.add_argument("--architectures", type=word_list(str), required=True, metavar="A,B,...")
    parser.add_argument(
        "--activations",
        type=word_list(activation_choice),
        required=True,
        metavar="A,B,...",
        help="names, with parameters as NAME:PARAM=NUMBER (e.g. scaled_exponential:scale=2)",
    )
    parser.add_argument("--seeds", type=word_list(int), default=[], metavar="0,1,...", help="default 0")
    parser.add_argument("--initializers", type=word_list(str), default=[], help="default glorot_uniform")
    parser.add_argument("--epochs", type=non_negative_int, default=0, help="default 0: the server's (100)")
    parser.add_argument("--patience", type=non_negative_int, default=0, help="early stopping (default 0: 20)")
    parser.add_argument("--batch-size", type=non_negative_int, default=0, help="default 0: 100")
    parser.add_argument("--learning-rate", type=non_negative_float, default=0.0, help="default 0: 1e-3")
    parser.add_argument("--width-multiplier", type=non_negative_int, default=0, help="default 0: 1")
    add_first_layer_l2(parser)
    parser.add_argument("--name", default="", help="prefix of the model names")
    parser.add_argument(
        "--parallelism",
        type=non_negative_int,
        default=0,
        help="pods at once in a cluster (0: server default)",
    )
    parser.add_argument("--gpu", action="store_true", help="in a cluster: GPU nodes and the GPU image")
    parser.add_argument("--wait", action="store_true", help="follow the sweep; exit 1 unless all succeed")
    parser.add_argument("--json", action="store_true")
    for name, handler, help_text in (
        ("get", _get, "describe a sweep (progress, Kubernetes Job status)"),
        ("wait", _wait, "follow a sweep to the end; exit 1 unless every job succeeded"),
        ("cancel", _cancel, "cancel every unfinished job of a sweep"),
    ):
        parser = command(sub, name, handler, help_text)
        parser.add_argument("sweep_id", metavar="ID")
        parser.add_argument("--jobs", action="store_true", help="also list the sweep's jobs")
        parser.add_argument("--json", action="store_true")
    parser = command(sub, "list", _list_sweeps, "list sweeps, newest first")
    parser.add_argument("--json", action="store_true")


def _start(args: argparse.Namespace, client: Client) -> int:
    sweep = client.sweep(
        args.dataset_id,
        architectures=args.architectures,
        activations=args.activations,
        seeds=args.seeds,
        initializers=args.initializers,
        width_multiplier=args.width_multiplier,
        first_layer_l2=args.first_layer_l2,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        patience=args.patience,
        name=args.name,
        parallelism=args.parallelism,
        gpu=args.gpu,
    )
    if not args.wait:
        info = sweep.info()
        if args.json:
            print_json(info)
        else:
            out(f"{info.sweep_id}  {info.state}  {info.total} jobs ({info.executor})")
        return EXIT_OK
    args.jobs = False
    return _follow(args, sweep)


def _follow(args: argparse.Namespace, sweep: Sweep) -> int:
    try:
        info = sweep.wait(progress=False if args.json else progress_choice(args))
    except KeyboardInterrupt:
        raise CliError(
            f"interrupted; sweep {sweep.sweep_id} keeps running (`{PROG} sweep get {sweep.sweep_id}`, "
            f"`{PROG} sweep cancel {sweep.sweep_id}`)",
            EXIT_INTERRUPTED,
        ) from None
    _print_sweep(args, info, sweep.jobs() if args.jobs else None)
    if info.state != "SUCCEEDED":
        raise CliError(
            f"sweep {info.sweep_id} ended {info.state}: {info.failed} failed, {info.cancelled} cancelled "
            f"(`{PROG} sweep get {info.sweep_id} --jobs` shows each error)",
            EXIT_JOB_FAILED,
        )
    return EXIT_OK


def _print_sweep(args: argparse.Namespace, info: SweepInfo, jobs: list[JobInfo] | None) -> None:
    if args.json:
        print_json({"sweep": info, "jobs": jobs} if jobs is not None else info)
        return
    print_fields(
        [
            ("sweep_id", info.sweep_id),
            ("name", info.name),
            ("state", info.state),
            ("dataset_id", info.dataset_id),
            ("executor", info.executor),
            (
                "jobs",
                f"{info.total}: {info.pending} pending, {info.running} running, {info.succeeded} succeeded, "
                f"{info.failed} failed, {info.cancelled} cancelled",
            ),
            ("parallelism", info.parallelism),
            ("kubernetes_job", info.kubernetes_job),
            ("kubernetes_status", info.kubernetes_status),
            ("error", info.error),
            ("created_at", info.created_at),
            ("finished_at", info.finished_at),
        ]
    )
    if jobs:
        out()
        print_table(
            ("INDEX", "JOB_ID", "STATE", "NAME", "TEST_AUPR", "MODEL_ID", "ERROR"),
            [
                (
                    j.sweep_index,
                    j.job_id,
                    j.state,
                    j.name,
                    None if j.test_metrics is None else j.test_metrics.aupr,
                    j.model_id,
                    j.error,
                )
                for j in jobs
            ],
        )


def _get(args: argparse.Namespace, client: Client) -> int:
    sweep = client.get_sweep(args.sweep_id)
    _print_sweep(args, sweep.info(), sweep.jobs() if args.jobs else None)
    return EXIT_OK


def _wait(args: argparse.Namespace, client: Client) -> int:
    return _follow(args, client.get_sweep(args.sweep_id))


def _cancel(args: argparse.Namespace, client: Client) -> int:
    _print_sweep(args, client.get_sweep(args.sweep_id).cancel(), None)
    return EXIT_OK


def _list_sweeps(args: argparse.Namespace, client: Client) -> int:
    sweeps = client.list_sweeps()
    if args.json:
        print_json(sweeps)
        return EXIT_OK
    print_table(
        ("SWEEP_ID", "STATE", "JOBS", "DONE", "FAILED", "EXECUTOR", "NAME", "CREATED"),
        [
            (
                s.sweep_id,
                s.state,
                s.total,
                s.succeeded + s.failed + s.cancelled,
                s.failed,
                s.executor,
                s.name,
                s.created_at,
            )
            for s in sweeps
        ],
    )
    return EXIT_OK
