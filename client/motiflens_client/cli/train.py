"""``motiflens train``, ``jobs`` and ``models``: training jobs and the models they make (trainer)."""

from __future__ import annotations

import argparse
import json
import sys

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
    label,
    non_negative_float,
    non_negative_int,
    param,
)
from motiflens_client.cli._output import (
    job_failed_message,
    jsonable,
    metric,
    out,
    params_text,
    print_fields,
    print_json,
    print_table,
    progress_choice,
)
from motiflens_client.sdk import Client, Job
from motiflens_client.types import JobInfo


def register_train(commands: Commands) -> None:
    """The ``train`` command."""
    parser = command(
        commands,
        "train",
        _train,
        "train a model on a data set (waits, with a progress bar, unless --no-wait)",
        description=(
            "Queue a training job and follow it: a progress bar on stderr (when it is a terminal),\n"
            "then the job id, model id and test metrics. Ctrl-C stops waiting; the job keeps running.\n"
            "Exit code 1 when the job ends FAILED or CANCELLED."
        ),
    )
    parser.add_argument("dataset_id", metavar="DATASET_ID")
    parser.add_argument(
        "--architecture",
        required=True,
        help="cnn_2, cnn_50, cnn_deep, cnn_local, cnn_dist, basset, residualbind",
    )
    parser.add_argument("--activation", required=True, help="first-layer activation, e.g. relu, exponential")
    parser.add_argument(
        "--param",
        type=param,
        action="append",
        default=[],
        metavar="NAME=NUMBER",
        help="activation parameter, repeatable (e.g. --param scale=2.0)",
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="model seed (default 0)")
    parser.add_argument("--epochs", type=non_negative_int, default=0, help="default 0: the server's (100)")
    parser.add_argument("--patience", type=non_negative_int, default=0, help="early stopping (default 0: 20)")
    parser.add_argument("--batch-size", type=non_negative_int, default=0, help="default 0: 100")
    parser.add_argument("--learning-rate", type=non_negative_float, default=0.0, help="default 0: 1e-3")
    parser.add_argument("--width-multiplier", type=non_negative_int, default=0, help="default 0: 1")
    add_first_layer_l2(parser)
    parser.add_argument("--initializer", default="", help="default glorot_uniform")
    parser.add_argument("--name", default="")
    parser.add_argument("--no-wait", action="store_true", help="print the job id and return at once")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (as the global --no-progress)")
    parser.add_argument("--json", action="store_true", help="print the final job as JSON")


def _train(args: argparse.Namespace, client: Client) -> int:
    job = client.train(
        args.dataset_id,
        architecture=args.architecture,
        activation=args.activation,
        activation_params=dict(args.param) or None,
        initializer=args.initializer,
        width_multiplier=args.width_multiplier,
        seed=args.seed,
        first_layer_l2=args.first_layer_l2,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        patience=args.patience,
        name=args.name,
    )
    if args.no_wait:
        if args.json:
            print_json({"job_id": job.job_id})
        else:
            out(job.job_id)
        return EXIT_OK
    sys.stderr.write(f"{PROG}: job {job.job_id} queued; Ctrl-C stops waiting (the job keeps running)\n")
    try:
        info = job.wait(progress=False if args.quiet else progress_choice(args))
    except KeyboardInterrupt:
        raise CliError(
            f"interrupted; job {job.job_id} keeps running (`{PROG} jobs watch {job.job_id}`, "
            f"`{PROG} jobs cancel {job.job_id}`)",
            EXIT_INTERRUPTED,
        ) from None
    _print_job(args, info)
    return EXIT_OK


def _print_job(args: argparse.Namespace, info: JobInfo) -> None:
    if args.json:
        print_json(info)
        return
    metrics = info.test_metrics
    print_fields(
        [
            ("job_id", info.job_id),
            ("state", info.state),
            ("model_id", info.model_id),
            ("dataset_id", info.dataset_id),
            ("model", f"{info.architecture} / {info.activation} ({params_text(info.activation_params)})"),
            ("seed", info.seed),
            ("epochs_done", info.epochs_done),
            ("test_auroc", metric(metrics, "auroc")),
            ("test_aupr", metric(metrics, "aupr")),
            ("test_loss", None if metrics is None else metrics.loss),
            ("error", info.error),
            ("created_at", info.created_at),
            ("finished_at", info.finished_at),
        ]
    )


def register_jobs(commands: Commands) -> None:
    """The ``jobs`` group: list, get, watch, cancel."""
    sub = group(commands, "jobs", "list, inspect, follow and cancel training jobs (trainer)")
    parser = command(sub, "list", _list_jobs, "list jobs, newest first")
    parser.add_argument("--json", action="store_true")
    parser = command(sub, "get", _get_job, "describe a job")
    parser.add_argument("job_id", metavar="ID")
    parser.add_argument("--json", action="store_true")
    parser = command(
        sub,
        "watch",
        _watch_job,
        "print a job's epochs (past, then live) until it ends; exit 1 if it ends FAILED or CANCELLED",
    )
    parser.add_argument("job_id", metavar="ID")
    parser.add_argument("--json", action="store_true", help="one JSON object per line: epochs, then the job")
    parser = command(sub, "cancel", _cancel_job, "cancel a queued or running job")
    parser.add_argument("job_id", metavar="ID")
    parser.add_argument("--json", action="store_true")


def _list_jobs(args: argparse.Namespace, client: Client) -> int:
    jobs = client.list_jobs()
    if args.json:
        print_json(jobs)
        return EXIT_OK
    print_table(
        ("JOB_ID", "STATE", "ARCHITECTURE", "ACTIVATION", "EPOCHS", "TEST_AUPR", "MODEL_ID", "CREATED"),
        [
            (
                j.job_id,
                j.state,
                j.architecture,
                j.activation,
                j.epochs_done,
                None if j.test_metrics is None else j.test_metrics.aupr,
                j.model_id,
                j.created_at,
            )
            for j in jobs
        ],
    )
    return EXIT_OK


def _get_job(args: argparse.Namespace, client: Client) -> int:
    _print_job(args, client.job(args.job_id).info())
    return EXIT_OK


def _watch_job(args: argparse.Namespace, client: Client) -> int:
    job: Job = client.job(args.job_id)
    for event in job.events():
        if args.json:
            out(json.dumps({"event": "epoch", **jsonable(event)}, allow_nan=False))
            continue
        out(
            f"epoch {event.epoch:>3}  loss {event.loss:.4f}  val_loss {event.val_loss:.4f}  "
            f"val_aupr {event.val_aupr:.4f}  val_auroc {event.val_auroc:.4f}  "
            f"lr {event.learning_rate:.1e}  {event.seconds:.1f} s{'  *' if event.improved else ''}"
        )
    info = job.last_info or job.info()
    if args.json:
        out(json.dumps({"event": "job", **jsonable(info)}, allow_nan=False))
    else:
        _print_job(args, info)
    if info.state in ("FAILED", "CANCELLED"):
        raise CliError(job_failed_message(info), EXIT_JOB_FAILED)
    return EXIT_OK


def _cancel_job(args: argparse.Namespace, client: Client) -> int:
    info = client.job(args.job_id).cancel()
    if args.json:
        print_json(info)
    else:
        out(f"{info.job_id}  {info.state}")
    return EXIT_OK


def register_models(commands: Commands) -> None:
    """The ``models`` group: list, import, export, delete."""
    sub = group(commands, "models", "trained and imported models (trainer)")
    parser = command(sub, "list", _list_models, "list models, newest first")
    parser.add_argument("--dataset", default="", metavar="ID", help="only models of this data set")
    parser.add_argument("--json", action="store_true")
    parser = command(
        sub,
        "import",
        _import_model,
        "import a Keras 3 .keras model built outside motiflens (input (None, L, 4) one-hot; "
        "Keras built-in layers only: a Lambda layer is refused)",
    )
    parser.add_argument("file", help="the .keras file (model.save('name.keras'))")
    parser.add_argument("--name", default="", help="its name (default: the file's stem)")
    parser.add_argument(
        "--label",
        type=label,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a label for the model (repeatable)",
    )
    parser.add_argument("--json", action="store_true")
    parser = command(
        sub,
        "export",
        _export_model,
        "write a stored model out: its .keras file, or a TF Serving SavedModel (NAME/VERSION/saved_model.pb)",
    )
    parser.add_argument("model_id")
    parser.add_argument(
        "--output",
        required=True,
        metavar="PATH",
        help="the .keras file to write, or (--format saved_model) the model base folder",
    )
    parser.add_argument("--format", choices=("keras", "saved_model"), default="keras")
    parser.add_argument("--name", default="", help="SavedModel folder name (default: the model id)")
    parser.add_argument("--version", type=non_negative_int, default=1, help="SavedModel version folder (1)")
    command(sub, "delete", _delete_model, "delete a stored model").add_argument("model_id")


def _import_model(args: argparse.Namespace, client: Client) -> int:
    info = client.import_model(
        args.file, name=args.name, labels=dict(args.label), progress=progress_choice(args)
    )
    if args.json:
        print_json(info)
        return EXIT_OK
    print_fields(
        [
            ("model_id", info.model_id),
            ("name", info.name),
            ("input_length", info.input_length),
            ("num_outputs", info.num_outputs),
            ("output_activation", info.output_activation),
            ("first_conv_layer", info.first_conv_layer or "- (no filters or scans)"),
        ]
    )
    return EXIT_OK


def _export_model(args: argparse.Namespace, client: Client) -> int:
    written = client.download_model(
        args.model_id, args.output, format=args.format, name=args.name, version=args.version
    )
    out(str(written))
    return EXIT_OK


def _delete_model(args: argparse.Namespace, client: Client) -> int:
    client.delete_model(args.model_id)
    out(f"deleted {args.model_id}")
    return EXIT_OK


def _list_models(args: argparse.Namespace, client: Client) -> int:
    models = client.list_models(args.dataset)
    if args.json:
        print_json(models)
        return EXIT_OK
    print_table(
        (
            "MODEL_ID",
            "ARCHITECTURE",
            "ACTIVATION",
            "SEED",
            "TEST_AUROC",
            "TEST_AUPR",
            "DATASET_ID",
            "NAME",
            "PROVENANCE",
        ),
        [
            (
                m.model_id,
                m.architecture,
                m.activation
                if not m.activation_params
                else f"{m.activation}({params_text(m.activation_params)})",
                m.seed,
                None if m.test_metrics is None else m.test_metrics.auroc,
                None if m.test_metrics is None else m.test_metrics.aupr,
                m.dataset_id,
                m.name,
                m.provenance,
            )
            for m in models
        ],
    )
    return EXIT_OK
