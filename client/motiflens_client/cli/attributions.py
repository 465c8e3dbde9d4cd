"""``motiflens attributions start|get``: attribution jobs over a stored split or a FASTA file."""

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
    output_dir,
)
from motiflens_client.cli._inputs import write_npz
from motiflens_client.cli._output import out, progress_choice
from motiflens_client.sdk import Client
from motiflens_client.types import DatasetSplit, StoredAttributions
from motiflens_client.wire import vocabulary


def register_attributions(commands: Commands) -> None:
    """The ``attributions`` group: start, get."""
    sub = group(commands, "attributions", "attribution jobs: a whole split or FASTA file into the store")
    parser = command(
        sub,
        "start",
        _start,
        "start an attribution job (prints its id; --wait follows it)",
        description=(
            "The trainer attributes every row of --dataset's --split (or every record of --fasta,\n"
            "uploaded first) in shards and stores one attr-... artifact in modisco-lite's\n"
            "layout (one-hot and hypothetical maps, (N, 4, L)). --wait shows a progress bar on stderr\n"
            "(when it is a terminal) and prints the artifact id; with --out DIR it also writes\n"
            "DIR/ohe.npz and DIR/shap.npz (`modisco motifs -s DIR/ohe.npz -a DIR/shap.npz`)."
        ),
    )
    parser.add_argument("model_id", metavar="MODEL_ID")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", metavar="ID", help="rows of a stored data set (see --split)")
    source.add_argument(
        "--fasta", type=input_file, metavar="FILE", help="FASTA file (plain or gzip), uploaded"
    )
    parser.add_argument("--split", choices=vocabulary.SPLIT_NAMES, default="test", help="default %(default)s")
    parser.add_argument("--offset", type=non_negative_int, default=0, help="first row (default 0)")
    parser.add_argument("--limit", type=non_negative_int, default=0, help="rows (default 0: all)")
    parser.add_argument("--method", choices=vocabulary.METHOD_NAMES, default="deepshap")
    parser.add_argument("--target", type=non_negative_int, default=0, help="output unit (default 0)")
    parser.add_argument("--num-references", type=non_negative_int, default=0, help="default 0: 10")
    parser.add_argument("--seed", type=non_negative_int, default=0)
    parser.add_argument("--gradient-correction", action="store_true")
    parser.add_argument(
        "--format", choices=tuple(vocabulary.ATTRIBUTION_FORMAT_BY_NAME), default="npz", help="default npz"
    )
    parser.add_argument("--shard-size", type=non_negative_int, default=0, help="rows per shard (0: 1000)")
    parser.add_argument("--name", default="")
    parser.add_argument("--wait", action="store_true", help="follow the job to its end")
    parser.add_argument("--out", type=output_dir, metavar="DIR", help="with --wait: write ohe.npz, shap.npz")

    parser = command(sub, "get", _get, "write a stored attributions artifact as modisco-lite's inputs")
    parser.add_argument("attributions_id", metavar="ATTRIBUTIONS_ID")
    parser.add_argument("--out", type=output_dir, required=True, metavar="DIR")


def _start(args: argparse.Namespace, client: Client) -> int:
    if args.out is not None and not args.wait:
        raise CliError("--out needs --wait (the maps exist once the job has finished)")
    dataset = None if args.fasta else DatasetSplit(args.dataset, args.split, args.offset, args.limit)
    upload = client.upload(args.fasta, progress=progress_choice(args)).upload_id if args.fasta else ""
    job = client.attribute_split(
        args.model_id,
        dataset,
        fasta_upload_id=upload,
        method=args.method,
        target=args.target,
        num_references=args.num_references,
        seed=args.seed,
        gradient_correction=args.gradient_correction,
        file_format=args.format,
        shard_size=args.shard_size,
        name=args.name,
    )
    if not args.wait:
        out(job.job_id)
        return EXIT_OK
    info = job.wait(progress=progress_choice(args))
    out(f"{info.attributions_id}  {info.num_sequences} sequences, {info.shards} shard(s)  (job {job.job_id})")
    if args.out is not None:
        _write(client.read_attributions(info.attributions_id), args.out)
    return EXIT_OK


def _get(args: argparse.Namespace, client: Client) -> int:
    _write(client.read_attributions(args.attributions_id), args.out)
    return EXIT_OK


def _write(stored: StoredAttributions, folder) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in stored.modisco_arrays().items():
        write_npz(folder / f"{name}.npz", {"arr_0": array})
    out(f"{folder}/ohe.npz, shap.npz  (N, 4, L) {tuple(stored.one_hot.transpose(0, 2, 1).shape)}")
