"""``motiflens dataset``: _create, import and list data sets (trainer)."""

from __future__ import annotations

import argparse
from pathlib import Path

from motiflens_client.cli._args import (
    EXIT_OK,
    Commands,
    command,
    group,
    input_file,
    non_negative_int,
)
from motiflens_client.cli._inputs import read_fasta, read_labels
from motiflens_client.cli._output import note, out, print_fields, print_json, print_table, progress_choice
from motiflens_client.sdk import Client
from motiflens_client.types import DatasetInfo
from motiflens_client.wire.vocabulary import CENTRE_BY_NAME, NEGATIVES_BY_NAME


def register(commands: Commands) -> None:
    """The ``dataset`` group: create, import-hdf5, import-fasta, import-intervals, get, delete, list."""
    sub = group(commands, "dataset", "create, import and list data sets (trainer)")

    parser = command(sub, "create", _create, "generate the paper's synthetic Task 1 or Task 3")
    parser.add_argument("--task", type=int, choices=(1, 3), required=True)
    parser.add_argument(
        "--num-sequences",
        type=non_negative_int,
        default=0,
        help="total sequences, split 0.7/0.1/0.2 (default 0: 30,000 for Task 1, 20,000 for Task 3)",
    )
    parser.add_argument("--sequence-length", type=non_negative_int, default=0, help="nt (default 0: 200)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="default %(default)s")
    parser.add_argument("--name", default="", help="human-readable name")
    parser.add_argument("--json", action="store_true", help="print the data set as JSON instead of its id")

    parser = command(
        sub,
        "import-hdf5",
        _import_hdf5,
        "upload an HDF5 file in the paper's layout (X_train, Y_train, ...)",
    )
    parser.add_argument("file", type=input_file, metavar="FILE")
    parser.add_argument("--reverse-complement", action="store_true", help="augment the training split")
    parser.add_argument("--name", default="")
    parser.add_argument("--json", action="store_true", help="print the data set as JSON instead of its id")

    parser = command(
        sub,
        "import-fasta",
        _import_fasta,
        "upload FASTA sequences with labels; the server splits them 0.7/0.1/0.2",
    )
    parser.add_argument(
        "fasta", type=input_file, metavar="FASTA", help="plain or gzip; all records of one length"
    )
    parser.add_argument(
        "--labels",
        type=input_file,
        required=True,
        metavar="FILE",
        help=(
            "LABELS.npy, or a .tsv/.csv/.txt table (gzip too): one row of numbers per record in FASTA "
            "order, or keyed by record id in the first column; a header line names the label columns"
        ),
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the split (default 0)")
    for split in ("valid", "test"):
        parser.add_argument(
            f"--{split}-ids", default="", metavar="ID1,ID2", help=f"records of the {split} split, by id"
        )
        parser.add_argument(
            f"--{split}-chroms",
            default="",
            metavar="C1,C2",
            help=f"records of the {split} split by chromosome (the id before ':', e.g. chr8:100-300)",
        )
    parser.add_argument("--reverse-complement", action="store_true", help="augment the training split")
    parser.add_argument("--name", default="")
    parser.add_argument("--json", action="store_true", help="print the data set as JSON instead of its id")

    parser = command(
        sub,
        "import-intervals",
        _import_intervals,
        "build a data set from peak files (BED/narrowPeak) in a reference genome, one task per file",
    )
    parser.add_argument(
        "--genome",
        required=True,
        metavar="FASTA|UPLOAD_ID",
        help=(
            "reference genome FASTA (plain or bgzip; uploaded in chunks, with a bar of bytes sent on a "
            "terminal), or an earlier upload's id"
        ),
    )
    parser.add_argument(
        "peaks", nargs="+", metavar="PEAKS", help="BED3+ or narrowPeak files (gzip too), one task each"
    )
    parser.add_argument("--window-length", type=non_negative_int, default=200, help="nt (default 200)")
    parser.add_argument(
        "--centre",
        choices=tuple(CENTRE_BY_NAME),
        default="auto",
        help="auto: summit where given, else midpoint",
    )
    parser.add_argument(
        "--negatives",
        choices=tuple(NEGATIVES_BY_NAME),
        default="none",
        help="none (needs two or more peak files), background (--background), gc_matched, shuffled",
    )
    parser.add_argument("--background", metavar="BED", help="background intervals for --negatives background")
    parser.add_argument(
        "--negative-ratio",
        type=float,
        default=0.0,
        help="negatives per peak window (gc_matched: 1; at most 10)",
    )
    parser.add_argument("--max-n-fraction", type=float, default=0.1, help="most N in a kept window (0.1)")
    parser.add_argument("--valid-chroms", default="", metavar="C1,C2", help="chromosomes of the valid split")
    parser.add_argument("--test-chroms", default="", metavar="C1,C2", help="chromosomes of the test split")
    parser.add_argument(
        "--seed", type=non_negative_int, default=0, help="seed of negatives and a random split"
    )
    parser.add_argument(
        "--task-names", default="", metavar="N1,N2", help="one per peak file (default file names)"
    )
    parser.add_argument("--reverse-complement", action="store_true", help="augment the training split")
    parser.add_argument("--name", default="")
    parser.add_argument("--json", action="store_true", help="print the data set and window counts as JSON")

    parser = command(sub, "get", _get, "describe a data set")
    parser.add_argument("dataset_id", metavar="ID")
    parser.add_argument("--json", action="store_true")

    parser = command(sub, "delete", _delete, "delete a data set (refused while a job trains on it)")
    parser.add_argument("dataset_id", metavar="ID")

    parser = command(sub, "list", _list_datasets, "list data sets, newest first")
    parser.add_argument("--json", action="store_true")


def _print_dataset_id(args: argparse.Namespace, info: DatasetInfo) -> int:
    if args.json:
        print_json(info)
    else:
        out(info.dataset_id)
    return EXIT_OK


def _create(args: argparse.Namespace, client: Client) -> int:
    info = client.create_task(
        args.task,
        num_sequences=args.num_sequences,
        seed=args.seed,
        sequence_length=args.sequence_length,
        name=args.name,
    )
    return _print_dataset_id(args, info)


def _import_hdf5(args: argparse.Namespace, client: Client) -> int:
    info = client.import_hdf5(args.file, reverse_complement=args.reverse_complement, name=args.name)
    return _print_dataset_id(args, info)


def _import_fasta(args: argparse.Namespace, client: Client) -> int:
    records = read_fasta(args.fasta)
    labels = read_labels(args.labels, ids=records.ids)
    info = client.import_fasta(
        records.to_text(),
        labels,
        seed=args.seed,
        reverse_complement=args.reverse_complement,
        name=args.name,
        valid_ids=_names(args.valid_ids),
        test_ids=_names(args.test_ids),
        valid_chroms=_names(args.valid_chroms),
        test_chroms=_names(args.test_chroms),
    )
    return _print_dataset_id(args, info)


def _names(text: str) -> list[str]:
    """A comma-separated option as a list (empty items dropped)."""
    return [name.strip() for name in text.split(",") if name.strip()]


def _import_intervals(args: argparse.Namespace, client: Client) -> int:
    result = client.import_intervals(
        args.genome,
        [Path(peaks) if Path(peaks).is_file() else peaks for peaks in args.peaks],
        window_length=args.window_length,
        centre=args.centre,
        negatives=args.negatives,
        background=args.background,
        negative_ratio=args.negative_ratio,
        max_n_fraction=args.max_n_fraction,
        valid_chroms=_names(args.valid_chroms),
        test_chroms=_names(args.test_chroms),
        seed=args.seed,
        reverse_complement=args.reverse_complement,
        task_names=_names(args.task_names) or [Path(peaks).name for peaks in args.peaks],
        name=args.name,
        progress=progress_choice(args),  # a bar per uploaded file, on a terminal stderr only
    )
    if args.json:
        print_json(result)
        return EXIT_OK
    windows = result.windows
    note(
        f"{windows.kept} of {windows.requested} peak windows kept ({windows.off_chromosome_end} off a "
        f"chromosome end, {windows.too_many_n} with too many N); {windows.negatives_made} "
        f"{windows.negatives} negatives; {windows.split} split"
    )
    out(result.dataset.dataset_id)
    return EXIT_OK


def _delete(args: argparse.Namespace, client: Client) -> int:
    client.delete_dataset(args.dataset_id)
    note(f"deleted data set {args.dataset_id}")
    return EXIT_OK


def _get(args: argparse.Namespace, client: Client) -> int:
    info = client.get_dataset(args.dataset_id)
    if args.json:
        print_json(info)
        return EXIT_OK
    print_fields(
        [
            ("dataset_id", info.dataset_id),
            ("name", info.name),
            ("kind", info.kind),
            ("train/valid/test", f"{info.num_train}/{info.num_valid}/{info.num_test}"),
            ("sequence_length", info.sequence_length),
            ("num_targets", info.num_targets),
            ("label_names", ",".join(info.label_names)),
            ("has_ground_truth", info.has_ground_truth),
            ("seed", info.seed),
            ("created_at", info.created_at),
        ]
    )
    return EXIT_OK


def _list_datasets(args: argparse.Namespace, client: Client) -> int:
    datasets = client.list_datasets()
    if args.json:
        print_json(datasets)
        return EXIT_OK
    print_table(
        ("DATASET_ID", "KIND", "TRAIN/VALID/TEST", "LENGTH", "TARGETS", "NAME", "CREATED"),
        [
            (
                d.dataset_id,
                d.kind,
                f"{d.num_train}/{d.num_valid}/{d.num_test}",
                d.sequence_length,
                d.num_targets,
                d.name,
                d.created_at,
            )
            for d in datasets
        ],
    )
    return EXIT_OK
