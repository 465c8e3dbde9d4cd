"""``motiflens dataset``: _create, import and list data sets (trainer)."""

from __future__ import annotations

import argparse

from motiflens_client.cli._args import (
    EXIT_OK,
    CliError,
    Commands,
    command,
    group,
    input_file,
    non_negative_int,
)
from motiflens_client.cli._inputs import read_fasta, read_labels
from motiflens_client.cli._output import out, print_fields, print_json, print_table
from motiflens_client.sdk import Client
from motiflens_client.types import DatasetInfo


def register(commands: Commands) -> None:
    """The ``dataset`` group: create, import-hdf5, import-fasta, get, list."""
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
    parser.add_argument("fasta", type=input_file, metavar="FASTA", help="all records of one length")
    parser.add_argument(
        "--labels",
        type=input_file,
        required=True,
        metavar="FILE",
        help="LABELS.npy, or .txt/.csv with one row of numbers per record; shape (N,) or (N, T)",
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of the split (default 0)")
    parser.add_argument("--reverse-complement", action="store_true", help="augment the training split")
    parser.add_argument("--name", default="")
    parser.add_argument("--json", action="store_true", help="print the data set as JSON instead of its id")

    parser = command(sub, "get", _get, "describe a data set")
    parser.add_argument("dataset_id", metavar="ID")
    parser.add_argument("--json", action="store_true")

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
    labels = read_labels(args.labels)
    if labels.shape[0] != len(records.ids):
        raise CliError(
            f"{args.labels}: {labels.shape[0]} label rows but {args.fasta} has {len(records.ids)} records; "
            "give one row per record, in FASTA order"
        )
    info = client.import_fasta(
        records.to_text(),
        labels,
        seed=args.seed,
        reverse_complement=args.reverse_complement,
        name=args.name,
    )
    return _print_dataset_id(args, info)


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
