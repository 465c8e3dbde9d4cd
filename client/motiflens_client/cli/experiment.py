"""``motiflens experiment`` and ``report``: the paper's grid on one synthetic task, and its HTML report."""

from __future__ import annotations

import argparse

from motiflens_client.cli._args import (
    EXIT_OK,
    PROG,
    CliError,
    Commands,
    command,
    local_command,
    non_negative_int,
    output_dir,
    word_list,
)
from motiflens_client.cli._output import out, print_table
from motiflens_client.sdk import Client

#: Columns of ``ExperimentResult.table()`` left out of the printed table (they stay in results.csv).
HIDDEN_COLUMNS = frozenset({"model_id", "job_id", "covered_tfs", "num_filters", "train_seconds"})


def register(commands: Commands) -> None:
    """The ``experiment`` and ``report`` commands."""
    parser = command(
        commands,
        "experiment",
        _experiment,
        "the paper's grid: models x activations x seeds on one synthetic task",
        description=(
            "Generate one synthetic task (or reuse --dataset), train every model x activation x seed,\n"
            "match each model's filters against JASPAR (and, for Task 3, score the attribution\n"
            "methods), print one row per run and save results.json + results.csv to --out.\n"
            "Exit code 1 when a training job ends FAILED or CANCELLED."
        ),
    )
    parser.add_argument("--task", type=int, choices=(1, 3), required=True)
    parser.add_argument("--models", type=word_list(str), required=True, help="e.g. cnn_deep,cnn_2")
    parser.add_argument("--activations", type=word_list(str), required=True, help="e.g. relu,exponential")
    parser.add_argument(
        "--seeds", type=word_list(int), default=[0], help="model seeds, e.g. 0,1,2 (default 0)"
    )
    parser.add_argument(
        "--num-sequences",
        type=non_negative_int,
        default=0,
        help="default 0: 30,000 (Task 1), 20,000 (Task 3)",
    )
    parser.add_argument("--epochs", type=non_negative_int, default=0, help="default 0: the server's (100)")
    parser.add_argument("--patience", type=non_negative_int, default=0, help="default 0: the server's (20)")
    parser.add_argument("--database", default="JASPAR2016", help="Tomtom database (default %(default)s)")
    parser.add_argument("--dataset", default=None, metavar="ID", help="reuse this stored data set")
    parser.add_argument(
        "--data-seed", type=non_negative_int, default=0, help="seed of the generated data set"
    )
    parser.add_argument("--name", default="", help="prefix of the job and data set names")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--out", type=output_dir, required=True, metavar="DIR", help="created if missing")

    parser = local_command(
        commands, "report", _report, "write the report of an experiment saved by `experiment --out DIR`"
    )
    parser.add_argument("directory", type=output_dir, metavar="DIR", help="holds results.json")


def _experiment(args: argparse.Namespace, client: Client) -> int:
    from motiflens_client.experiments import Experiment

    try:
        grid = Experiment(
            task=args.task,
            models=args.models,
            activations=args.activations,
            seeds=args.seeds,
            num_sequences=args.num_sequences,
            epochs=args.epochs,
            patience=args.patience,
            database=args.database,
            dataset_id=args.dataset,
            name=args.name,
            data_seed=args.data_seed,
        )
    except ValueError as error:
        raise CliError(str(error)) from None
    result = grid.run(client, progress=not args.quiet)
    try:
        saved = result.save(args.out)
    except OSError as error:
        raise CliError(f"cannot write {args.out}: {error.strerror or error}") from None
    table = result.table()
    headers = [column for column in (table[0] if table else {}) if column not in HIDDEN_COLUMNS]
    print_table(headers, [[row[column] for column in headers] for row in table])
    out(f"saved {saved}; write the report with `{PROG} report {args.out}`")
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from motiflens_client.experiments.results import RESULTS_JSON, ExperimentResult

    try:
        from motiflens_client.experiments.report import write_report
    except ImportError as error:
        raise CliError(f"report needs motiflens_client.experiments.report ({error})") from None
    if not (args.directory / RESULTS_JSON).is_file():
        raise CliError(f"{args.directory}: no {RESULTS_JSON}; give the --out folder of `{PROG} experiment`")
    try:
        result = ExperimentResult.load(args.directory)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CliError(
            f"{args.directory / RESULTS_JSON}: cannot read the saved experiment ({error})"
        ) from None
    try:
        path = write_report(result, args.directory)
    except ImportError as error:  # matplotlib/logomaker missing: the message names the extra
        raise CliError(str(error)) from None
    except OSError as error:
        raise CliError(f"cannot write the report into {args.directory}: {error.strerror or error}") from None
    out(str(path))
    return EXIT_OK
