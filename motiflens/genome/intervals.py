"""Genome intervals: :class:`Interval`, centred windows, and BED/narrowPeak parsing (:func:`read_bed`).

Also the constants the other modules share: the window-length bound and the base
codes of one-hot encoding.
"""

from __future__ import annotations

import gzip
import io
import itertools
import math
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import numpy as np

from motiflens.errors import InvalidInputError, NotFoundError

Centre = Literal["summit", "midpoint"]

MAX_LINE_BYTES = 64 * 1024
MAX_WINDOW_LENGTH = 100_000
NARROWPEAK_COLUMNS = 10
BED_ACCEPTED = "accepted: tab-separated BED3+ (chrom, start, end, ...) or narrowPeak (10 columns)"

# Byte -> code: 0..3 for ACGT (either case), 4 for N and for every other letter (IUPAC
# ambiguity codes in a reference are unknown bases for our purposes).
_CODE = np.full(256, 4, dtype=np.uint8)
for _i, _base in enumerate("ACGT"):
    _CODE[ord(_base)] = _i
    _CODE[ord(_base.lower())] = _i
_N_CODE = 4
# Code -> one-hot row; row 4 (N) is all zero.
_ONE_HOT = np.zeros((5, 4), dtype=np.uint8)
_ONE_HOT[:4] = np.eye(4, dtype=np.uint8)


# --------------------------------------------------------------------------- intervals


def _interval_problem(chrom: str, start: int, end: int, summit: int | None) -> str | None:
    """What is wrong with these coordinates, or None when they form a valid BED interval."""
    if not chrom:
        return "chrom is empty; expected a contig name"
    if start < 0:
        return f"start {start} is negative; BED coordinates are 0-based, so start >= 0"
    if end <= start:
        return f"end {end} is not greater than start {start}; BED intervals are half-open [start, end)"
    if summit is not None and not start <= summit < end:
        return f"summit {summit} lies outside the interval [{start}, {end})"
    return None


@dataclass(frozen=True, slots=True)
class Interval:
    """A genome interval, 0-based half-open ``[start, end)`` as in BED.

    Attributes
    ----------
    chrom : str
        Contig name as in the genome FASTA.
    start, end : int
        ``0 <= start < end``.
    summit : int or None
        Absolute 0-based position of the peak summit, in ``[start, end)``; None if unknown.
    name : str
        BED column 4, or "" when absent.
    label : float or None
        The value of ``read_bed``'s ``label_column``, or None.
    """

    chrom: str
    start: int
    end: int
    summit: int | None = None
    name: str = ""
    label: float | None = None

    def __post_init__(self) -> None:
        problem = _interval_problem(self.chrom, self.start, self.end, self.summit)
        if problem is not None:
            raise InvalidInputError(
                f"interval {self.chrom}:{self.start}-{self.end}: {problem}", field="interval"
            )

    @property
    def centre(self) -> int:
        """Summit if known, else the midpoint ``(start + end) // 2``."""
        return self.summit if self.summit is not None else (self.start + self.end) // 2


def _window_start(interval: Interval, length: int, centre: Centre) -> int:
    """Start of the window of ``length`` nt centred on ``interval`` (may be negative)."""
    middle = interval.centre if centre == "summit" else (interval.start + interval.end) // 2
    return middle - length // 2


def centred_window(interval: Interval, *, length: int, centre: Centre = "summit") -> Interval:
    """The window of ``length`` nt centred on an interval.

    Parameters
    ----------
    interval : Interval
    length : int
        Window length L.
    centre : {"summit", "midpoint"}, default "summit"
        Centre on the summit when the interval has one (else the midpoint), or always on
        the midpoint ``(start + end) // 2``.

    Returns
    -------
    Interval
        ``[c - L // 2, c - L // 2 + L)`` with ``summit = c`` (the centre base) and the
        name and label of ``interval``.

    Raises
    ------
    InvalidInputError
        The window would start before position 0 (:func:`extract_windows` drops such
        windows instead).
    """
    start = _window_start(interval, length, centre)
    return Interval(interval.chrom, start, start + length, start + length // 2, interval.name, interval.label)


# --------------------------------------------------------------------------- BED


def read_bed(
    source: str | os.PathLike,
    *,
    field: str = "bed",
    max_intervals: int = 1_000_000,
    label_column: int | None = None,
) -> list[Interval]:
    """Parse BED3+ or narrowPeak intervals.

    Blank lines and ``#``, ``track`` and ``browser`` lines are skipped. Columns are
    tab-separated (whitespace-separated when a line has no tab). A line of exactly 10
    columns is narrowPeak: column 10 is the summit's offset from start, -1 for none.

    Parameters
    ----------
    source : str or path
        BED text (a ``str``), or a path (``pathlib.Path`` or other ``os.PathLike``) to a
        plain or gzip-compressed file (detected from its first bytes).
    field : str, default "bed"
        Name used in error messages and as ``error.field``.
    max_intervals : int, default 1,000,000
        Refuse files with more intervals.
    label_column : int, optional
        1-based column (>= 4) holding a numeric label per interval, stored as
        ``Interval.label``; None leaves labels unset.

    Returns
    -------
    list of Interval
        In file order; empty when the file has no interval line.

    Raises
    ------
    InvalidInputError
        The message names ``field``, the 1-based line number, what was wrong and what is
        accepted: fewer than 3 columns, non-integer coordinates, start < 0, end <= start,
        summit outside the interval, a missing or non-finite label, more than
        ``max_intervals`` intervals, a line over 64 KiB, text that is not UTF-8, or a
        corrupt gzip file.
    NotFoundError
        ``source`` is a path that does not exist.
    """
    _check_positive_int(max_intervals, "max_intervals")
    if label_column is not None:
        _check_positive_int(label_column, "label_column")
        if label_column < 4:
            raise InvalidInputError(
                f"label_column: expected a 1-based column >= 4 (1-3 are chrom, start, end), "
                f"got {label_column}",
                field="label_column",
            )
    intervals: list[Interval] = []
    with _open_bed(source, field) as handle:
        for number, line in _bed_lines(handle, field, origin=_origin(source)):
            if len(intervals) == max_intervals:
                raise InvalidInputError(
                    f"{field}: line {number}: more than max_intervals={max_intervals} intervals; "
                    "split the file or raise max_intervals",
                    field=field,
                )
            intervals.append(_parse_bed_line(line, number, field, label_column, isinstance(source, str)))
    return intervals


def _origin(source: str | os.PathLike) -> str:
    return "<text>" if isinstance(source, str) else str(source)


def _open_bed(source: str | os.PathLike, field: str) -> BinaryIO:
    """A binary stream over BED text or over a plain or gzip file."""
    if isinstance(source, str):
        return io.BytesIO(source.encode("utf-8", "replace"))
    if not isinstance(source, os.PathLike):
        raise InvalidInputError(
            f"{field}: expected BED text (str) or a path (pathlib.Path), got {type(source).__name__}",
            field=field,
        )
    path = Path(source)
    if not path.is_file():
        raise NotFoundError(f"{field}: {path}: no such BED file", field=field)
    handle = open(path, "rb")
    if handle.read(2) == b"\x1f\x8b":
        handle.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    handle.seek(0)
    return handle


def _bed_lines(handle: BinaryIO, field: str, *, origin: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, text without line end) of each line that may hold an interval."""
    for number in itertools.count(1):
        try:
            # One byte over the limit tells a long line from one that just fits.
            raw = handle.readline(MAX_LINE_BYTES + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise InvalidInputError(
                f"{field}: {origin}: line {number}: cannot read ({exc}); the gzip file looks truncated "
                "or corrupt; accepted: plain text or complete gzip/bgzip files",
                field=field,
            ) from None
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            raise InvalidInputError(
                f"{field}: line {number}: longer than {MAX_LINE_BYTES // 1024} KiB; "
                "BED lines are expected to be short",
                field=field,
            )
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise InvalidInputError(
                f"{field}: line {number}: not UTF-8 text; {BED_ACCEPTED}", field=field
            ) from None
        words = line.split()
        if not words or words[0].startswith("#") or words[0] in ("track", "browser"):
            continue
        yield number, line


def _parse_bed_line(
    line: str, number: int, field: str, label_column: int | None, from_text: bool
) -> Interval:
    """One Interval from one BED line, or an error naming the line."""
    columns = [column.strip() for column in (line.split("\t") if "\t" in line else line.split())]
    where = f"{field}: line {number}"
    if len(columns) < 3:
        # A path passed as str is read as BED text: say so on line 1.
        hint = "; a str source is BED text, pass a pathlib.Path to read a file" if from_text else ""
        raise InvalidInputError(
            f"{where}: expected at least 3 columns (chrom, start, end), got {len(columns)}; "
            f"{BED_ACCEPTED}{hint}",
            field=field,
        )
    start = _parse_int(columns[1], "start", where, field)
    end = _parse_int(columns[2], "end", where, field)
    summit = None
    if len(columns) == NARROWPEAK_COLUMNS:
        offset = _parse_int(columns[9], "narrowPeak summit offset (column 10)", where, field)
        if offset != -1:
            if not 0 <= offset < end - start:
                raise InvalidInputError(
                    f"{where}: summit offset {offset} lies outside the interval [{start}, {end}); "
                    f"narrowPeak column 10 must be in [0, {end - start}) or -1 for no summit",
                    field=field,
                )
            summit = start + offset
    problem = _interval_problem(columns[0], start, end, summit)
    if problem is not None:
        raise InvalidInputError(f"{where}: {problem}", field=field)
    label = None if label_column is None else _parse_label(columns, label_column, where, field)
    name = columns[3] if len(columns) > 3 else ""
    return Interval(columns[0], start, end, summit, name, label)


def _parse_int(text: str, what: str, where: str, field: str) -> int:
    # int() would also take "1_000" and "+5"; BED coordinates are plain digits.
    digits = text[1:] if text.startswith("-") else text
    if not digits.isascii() or not digits.isdigit():
        raise InvalidInputError(
            f"{where}: {what} {text!r} is not an integer; BED coordinates are whole numbers "
            "(0-based, half-open)",
            field=field,
        )
    return int(text)


def _parse_label(columns: list[str], label_column: int, where: str, field: str) -> float:
    if len(columns) < label_column:
        raise InvalidInputError(
            f"{where}: label_column {label_column} is missing (the line has {len(columns)} columns)",
            field=field,
        )
    text = columns[label_column - 1]
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InvalidInputError(
            f"{where}: label in column {label_column} is {text!r}; expected a finite number",
            field=field,
        )
    return value


def _check_positive_int(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidInputError(f"{name}: expected a positive integer, got {value!r}", field=name)
