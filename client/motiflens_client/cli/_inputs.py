"""Local inputs and outputs of commands: FASTA, labels, MEME text, the sequence source, written files.

``--hdf5`` files are not read here (the client never imports h5py): the file is
uploaded to the trainer as a data set (``dataset import-hdf5``) and the command
then uses that data set's split.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from motiflens_client.cli._args import (
    CliError,
    ServiceCallFailed,
    input_file,
    non_negative_int,
)
from motiflens_client.cli._output import note
from motiflens_client.errors import InvalidArgument, MotiflensClientError
from motiflens_client.sdk import Client, inputs
from motiflens_client.sdk.inputs import FastaRecords
from motiflens_client.types import DatasetSplit
from motiflens_client.wire import vocabulary

SPLITS = vocabulary.SPLIT_NAMES
#: The HDF5 format signature; the superblock sits at byte 0, 512, 1024, 2048, ...
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def read_fasta(path: Path) -> FastaRecords:
    """:func:`motiflens_client.sdk.inputs.read_fasta` of a file, its errors as :class:`CliError`."""
    try:
        return inputs.read_fasta(path)
    except InvalidArgument as error:
        raise CliError(error.message) from None


def read_labels(path: Path, ids: Sequence[str] | None = None) -> inputs.Labels:
    """:func:`motiflens_client.sdk.inputs.read_labels` of a file, its errors as :class:`CliError`."""
    try:
        return inputs.read_labels(path, ids=ids)
    except InvalidArgument as error:
        raise CliError(error.message) from None


def check_hdf5_signature(path: Path) -> None:
    """Refuse a file without the HDF5 signature before it is uploaded (h5py is not needed).

    Raises
    ------
    CliError
        Unreadable, or no signature at byte 0, 512, 1024, 2048, ... (where HDF5 puts it).
    """
    try:
        with path.open("rb") as handle:
            size = path.stat().st_size
            offset = 0
            while offset + len(HDF5_SIGNATURE) <= size:
                handle.seek(offset)
                if handle.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                    return
                offset = 512 if offset == 0 else 2 * offset
    except OSError as error:
        raise CliError(f"{path}: cannot read: {error.strerror or error}") from None
    raise CliError(f"{path}: not a readable HDF5 file (no HDF5 signature found)")


def read_text(path: Path) -> str:
    """A UTF-8 text file; an unreadable one is a one-line :class:`CliError`."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CliError(f"{path}: cannot read: {error}") from None


def read_meme(path: Path) -> str:
    """The text of a MEME motif file, after a check that it looks like one."""
    text = read_text(path)
    if not re.search(r"^MEME version", text, flags=re.MULTILINE):
        raise CliError(f"{path}: not a MEME motif file (expected a 'MEME version 4' line, then MOTIF blocks)")
    if not re.search(r"^MOTIF\s", text, flags=re.MULTILINE):
        raise CliError(f"{path}: no 'MOTIF' block; expected at least one motif in MEME minimal format")
    return text


def write(path: Path, writer: Callable[[Path], object]) -> None:
    """Run ``writer(path)``; an OSError becomes a one-line :class:`CliError`."""
    try:
        writer(path)
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror or error}") from None


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text (see :func:`write`)."""
    write(path, lambda target: target.write_text(text, encoding="utf-8"))


def write_bytes(path: Path, data: bytes) -> None:
    """Write bytes (see :func:`write`)."""
    write(path, lambda target: target.write_bytes(data))


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` under exactly ``path`` (``np.savez`` would append ``.npz`` to a bare name)."""

    def save(target: Path) -> None:
        with target.open("wb") as handle:
            np.savez(handle, allow_pickle=False, **arrays)

    write(path, save)


# --------------------------------------------------------------------------- the sequence source


def add_sequence_source(parser: argparse.ArgumentParser, *, attributions: bool = False) -> None:
    """``--dataset ID | --fasta FILE | --hdf5 FILE`` with ``--split``, ``--offset`` and ``--limit``.

    ``attributions``: ``--attributions ID`` (a stored attributions artifact) is a fourth choice.
    """
    source = parser.add_argument_group("sequences (one of)")
    group = source.add_mutually_exclusive_group(required=True)
    if attributions:
        group.add_argument(
            "--attributions", metavar="ATTR_ID", help="the maps of an attribution job (`attributions start`)"
        )
    group.add_argument("--dataset", metavar="ID", help="rows of a stored data set (see --split)")
    group.add_argument(
        "--fasta", type=input_file, metavar="FILE", help="FASTA file, all records of one length"
    )
    group.add_argument(
        "--hdf5",
        type=input_file,
        metavar="FILE",
        help=(
            "HDF5 file in the paper's layout (X_train, Y_train, ..., X as (N, 4, L) or (N, L, 4)), "
            "uploaded to the trainer as a new data set (as `dataset import-hdf5` does), whose --split "
            "is then used; pass --dataset ID next time to skip the upload"
        ),
    )
    source.add_argument(
        "--split", choices=SPLITS, help="split of --dataset or --hdf5 (default test; not for --fasta)"
    )
    source.add_argument("--offset", type=non_negative_int, default=0, help="first sequence (default 0)")
    source.add_argument(
        "--limit", type=non_negative_int, default=0, help="at most N sequences (default 0: all)"
    )


@dataclasses.dataclass(frozen=True)
class Sequences:
    """The sequences a command sends, how its outputs name their source, and FASTA record ids."""

    value: Sequence[str] | DatasetSplit
    source: str
    ids: tuple[str, ...] | None = None
    #: The ``--hdf5`` file and the data set it was uploaded as (None for other sources).
    uploaded: tuple[Path, str] | None = None

    def report_upload(self) -> None:
        """After a successful command: say which data set the ``--hdf5`` upload made (stderr)."""
        if self.uploaded is not None:
            path, dataset_id = self.uploaded
            note(f"{path} is stored as data set {dataset_id}; pass --dataset {dataset_id} to skip the upload")


def sequences(args: argparse.Namespace, client: Client) -> Sequences:
    """The sequences chosen by :func:`add_sequence_source`'s options.

    Raises
    ------
    CliError
        A bad FASTA file, no record in the window, ``--split`` with ``--fasta``, or an
        ``--hdf5`` file that is not HDF5 (checked before the upload).
    ServiceCallFailed
        The trainer refused the ``--hdf5`` upload (e.g. a key of the paper's layout missing).
    """
    split = args.split or "test"
    window = f"[{args.offset}:{args.offset + args.limit if args.limit else ''}]"
    if args.fasta is not None:
        if args.split:
            raise CliError("--split applies to --dataset and --hdf5, not to --fasta")
        records = read_fasta(args.fasta)
        stop = len(records.ids) if args.limit == 0 else args.offset + args.limit
        ids, chosen = records.ids[args.offset : stop], records.sequences[args.offset : stop]
        if not chosen:
            raise CliError(
                f"{args.fasta}: no record from --offset {args.offset} ({len(records.ids)} records)"
            )
        return Sequences(list(chosen), f"fasta:{args.fasta}{window}", tuple(ids))
    if args.hdf5 is not None:
        check_hdf5_signature(args.hdf5)
        try:
            info = client.import_hdf5(args.hdf5, name=args.hdf5.name)
        except MotiflensClientError as error:
            raise ServiceCallFailed(error, "trainer") from None
        reference = DatasetSplit(info.dataset_id, split=split, offset=args.offset, limit=args.limit)
        return Sequences(
            reference, f"hdf5:{args.hdf5}:X_{split}{window}", uploaded=(args.hdf5, info.dataset_id)
        )
    reference = DatasetSplit(args.dataset, split=split, offset=args.offset, limit=args.limit)
    return Sequences(reference, f"dataset:{args.dataset}:{split}{window}")
