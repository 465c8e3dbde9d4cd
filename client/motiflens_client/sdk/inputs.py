"""The client's one reader of local inputs: FASTA files or text, and label tables.

The SDK (``Client.import_fasta``, ``Client.attribute(model, "seqs.fa")``, ...) and the
CLI read through these functions, so both accept the same inputs and fail with the
same messages (``FILE:LINE: what was wrong; what is accepted``), raised as
:class:`~motiflens_client.errors.InvalidArgument` (the CLI prints them as they are).

- FASTA: a path (plain or gzip, by content, not by name) or the text itself;
  multi-line records and blank lines allowed; a record's id is the first word of its
  header; every record of one length.
- Labels: an array (N,) or (N, T); a ``.npy`` file; or a text table (``.tsv``,
  ``.csv``, ``.txt``). A table whose first line has a non-numeric cell is a header:
  its cells name the label columns. A table whose first column is not numeric is
  keyed by FASTA record id (rows in any order; ids not in the FASTA ignored), else its
  rows follow the records' order.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import os
import re
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from motiflens_client.errors import InvalidArgument
from motiflens_client.wire.sequences import ACCEPTED_BASES

_BASES = re.compile(r"[^ACGTNacgtn]")
_GZIP_MAGIC = b"\x1f\x8b"
#: Largest FASTA or label file read into memory by the client, bytes (uncompressed).
MAX_INPUT_BYTES = 2 * 1024**3
#: Longest label name kept from a table header.
MAX_LABEL_NAME_CHARS = 128


@dataclasses.dataclass(frozen=True)
class FastaRecords:
    """Records of a FASTA file: ``ids[i]`` names ``sequences[i]`` (upper case)."""

    ids: tuple[str, ...]
    sequences: tuple[str, ...]

    def to_text(self) -> str:
        """The records as FASTA text, one sequence line per record (ids only in headers)."""
        return "".join(
            f">{name}\n{sequence}\n" for name, sequence in zip(self.ids, self.sequences, strict=True)
        )


@dataclasses.dataclass(frozen=True)
class Labels:
    """Label rows in record order.

    Attributes
    ----------
    values : np.ndarray, shape (N, T), float32
    names : tuple of str
        The T column names from a table header (empty when there is none).
    """

    values: np.ndarray
    names: tuple[str, ...] = ()


def is_file(value: object) -> bool:
    """Whether ``value`` names an existing file (a path object, or a short one-line string)."""
    if isinstance(value, os.PathLike):
        return Path(value).is_file()
    if isinstance(value, str) and "\n" not in value and 0 < len(value) < 4096:
        try:
            return Path(value).expanduser().is_file()
        except OSError:
            return False
    return False


def read_file_text(path: str | os.PathLike) -> str:
    """A text file's content, decompressed when it is gzip (by its first bytes).

    Raises
    ------
    InvalidArgument
        Unreadable, a corrupt or truncated gzip, over :data:`MAX_INPUT_BYTES`, or not text.
    """
    path = Path(path).expanduser()
    try:
        with open(path, "rb") as handle:
            compressed = handle.read(2) == _GZIP_MAGIC
        opener = gzip.open if compressed else open
        with opener(path, "rb") as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    except (EOFError, zlib.error, gzip.BadGzipFile):
        raise InvalidArgument(f"{path}: cannot read: a corrupt or truncated gzip file") from None
    except OSError as error:
        raise InvalidArgument(f"{path}: cannot read: {error.strerror or error}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise InvalidArgument(f"{path}: over {MAX_INPUT_BYTES // 2**30} GiB; upload larger files instead")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidArgument(f"{path}: not a text file (byte {error.start} is not UTF-8)") from None


def read_fasta(source: str | os.PathLike) -> FastaRecords:
    """Read DNA records, all of one length, from a FASTA file (plain or gzip) or FASTA text.

    Parameters
    ----------
    source : str or os.PathLike
        A path of an existing file, else the FASTA text itself.

    Returns
    -------
    FastaRecords

    Raises
    ------
    InvalidArgument
        ``ORIGIN:LINE: ...`` (ORIGIN the path, or "fasta" for text) for text before the
        first header, a record without sequence, a character outside A, C, G, T, N, or
        a length differing from the first record's; ``ORIGIN: ...`` for an unreadable,
        corrupt or empty input.
    """
    if is_file(source):
        origin = str(source)
        text = read_file_text(source)
    else:
        origin, text = "fasta", str(source)
    ids: list[str] = []
    chunks: list[list[str]] = []
    header_lines: list[int] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith(">"):
            if chunks and not chunks[-1]:
                raise InvalidArgument(f"{origin}:{header_lines[-1]}: record {ids[-1]!r} has no sequence")
            words = line[1:].split()
            ids.append(words[0] if words else f"seq{len(ids)}")
            chunks.append([])
            header_lines.append(number)
            continue
        if not ids:
            raise InvalidArgument(
                f"{origin}:{number}: sequence text before the first '>' header; "
                "a FASTA record starts with a line '>name'"
            )
        bad = _BASES.search(line)
        if bad:
            raise InvalidArgument(
                f"{origin}:{number}: invalid character {bad.group()!r} at column {bad.start() + 1} "
                f"in record {ids[-1]!r}; accepted: {ACCEPTED_BASES}"
            )
        chunks[-1].append(line.upper())
    if not ids:
        raise InvalidArgument(f"{origin}: no FASTA record found (expected lines starting with '>')")
    if not chunks[-1]:
        raise InvalidArgument(f"{origin}:{header_lines[-1]}: record {ids[-1]!r} has no sequence")
    sequences = ["".join(chunk) for chunk in chunks]
    for index, sequence in enumerate(sequences):
        if len(sequence) != len(sequences[0]):
            raise InvalidArgument(
                f"{origin}:{header_lines[index]}: record {ids[index]!r} has {len(sequence)} nt; "
                f"all records must have the length of the first ({len(sequences[0])} nt)"
            )
    return FastaRecords(ids=tuple(ids), sequences=tuple(sequences))


def read_labels(source: str | os.PathLike | npt.ArrayLike, *, ids: Sequence[str] | None = None) -> Labels:
    """Label rows for FASTA records, from an array, a ``.npy`` file or a text table.

    Parameters
    ----------
    source : array-like, str or os.PathLike
        An array (N,) or (N, T); or a path (``.npy``, or a table: tab-, comma- or
        space-separated, optionally gzip).
    ids : sequence of str, optional
        The FASTA record ids, in order: needed for a table keyed by id, and used to
        check the row count.

    Returns
    -------
    Labels
        ``values`` (N, T) float32 in record order; ``names`` from a header.

    Raises
    ------
    InvalidArgument
        Unreadable or non-numeric values, not 1-D/2-D, a row count that differs from
        the records', an id table without ``ids``, a record id missing from the table
        or repeated in it, ragged rows.
    """
    names: tuple[str, ...] = ()
    origin = "labels"
    if isinstance(source, str | os.PathLike):
        if not is_file(source):
            raise InvalidArgument(f"labels: no such file: {str(source)[:200]!r}")
        origin = str(source)
        if str(source).endswith(".npy"):
            try:
                values = np.load(Path(source).expanduser(), allow_pickle=False)
            except (OSError, ValueError) as error:
                raise InvalidArgument(
                    f"{origin}: cannot read labels ({error}); expected a numeric .npy array"
                ) from None
        else:
            values, names = _read_table(read_file_text(source), origin, ids)
    else:
        values = source
    try:
        array = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise InvalidArgument(f"{origin}: labels must be numbers ({error})") from None
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] < 1:
        raise InvalidArgument(f"{origin}: labels must have shape (N,) or (N, T), got {array.shape}")
    if ids is not None and array.shape[0] != len(ids):
        raise InvalidArgument(
            f"{origin}: {array.shape[0]} label rows but the FASTA has {len(ids)} records; "
            "give one row per record (in record order, or keyed by record id in the first column)"
        )
    if names and len(names) != array.shape[1]:
        raise InvalidArgument(
            f"{origin}: the header names {len(names)} columns but rows hold {array.shape[1]}"
        )
    return Labels(values=array, names=names)


def _read_table(text: str, origin: str, ids: Sequence[str] | None) -> tuple[np.ndarray, tuple[str, ...]]:
    """(values (N, T), header names) of a label table, rows in ``ids`` order when keyed by id."""
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise InvalidArgument(f"{origin}: no label rows")
    delimiter = "\t" if "\t" in lines[0][1] else "," if "," in lines[0][1] else None
    rows = [
        (number, next(csv.reader([line], delimiter=delimiter)) if delimiter else line.split())
        for number, line in lines
    ]
    rows = [(number, [cell.strip() for cell in cells]) for number, cells in rows]
    keyed = not _is_number(rows[-1][1][0])
    header: list[str] = []
    if not all(_is_number(cell) for cell in rows[0][1][1 if keyed else 0 :]):
        header = rows[0][1][1:] if keyed else rows[0][1]
        rows = rows[1:]
    width = len(rows[0][1]) if rows else 0
    for number, cells in rows:
        if len(cells) != width:
            raise InvalidArgument(f"{origin}:{number}: {len(cells)} columns; the first row has {width}")
    if not rows:
        raise InvalidArgument(f"{origin}: a header but no label rows")
    try:
        numbers = [[float(cell) for cell in cells[1 if keyed else 0 :]] for _, cells in rows]
    except ValueError as error:
        number = next(n for n, cells in rows if not all(_is_number(c) for c in cells[1 if keyed else 0 :]))
        raise InvalidArgument(f"{origin}:{number}: labels must be numbers ({error})") from None
    names = tuple(name[:MAX_LABEL_NAME_CHARS] for name in header)
    if not keyed:
        return np.asarray(numbers, dtype=np.float32), names
    if ids is None:
        raise InvalidArgument(
            f"{origin}: rows are keyed by record id (first column); give the FASTA records too"
        )
    by_id: dict[str, list[float]] = {}
    for (number, cells), values in zip(rows, numbers, strict=True):
        if cells[0] in by_id:
            raise InvalidArgument(f"{origin}:{number}: record id {cells[0]!r} appears twice")
        by_id[cells[0]] = values
    missing = [record for record in ids if record not in by_id]
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5])
        raise InvalidArgument(
            f"{origin}: no label row for {len(missing)} FASTA record(s): {shown}"
            + (" ..." if len(missing) > 5 else "")
        )
    return np.asarray([by_id[record] for record in ids], dtype=np.float32), names


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def text_of(source: str | os.PathLike) -> str:
    """``source``'s text: a file's content (gzip decompressed) when it names one, else ``source``."""
    return read_file_text(source) if is_file(source) else str(source)


__all__ = ["FastaRecords", "Labels", "is_file", "read_fasta", "read_file_text", "read_labels", "text_of"]
