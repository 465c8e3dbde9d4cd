"""Genome intervals to fixed-length one-hot windows: peaks, reference FASTA, labels, negatives, splits.

The path from a peak file to a data set:

1. :func:`read_bed` parses BED3+ or narrowPeak into :class:`Interval` objects.
2. :class:`Genome` reads a reference FASTA (plain or bgzip) through pyfaidx.
3. :func:`extract_windows` cuts one window of ``length`` nt around each peak's summit
   (or midpoint) and one-hot encodes it; windows off a chromosome end or rich in N are
   dropped and counted in :class:`WindowCounts`.
4. :func:`label_windows` gives each window one label per peak track (multi-task).
5. Negatives: :func:`background_windows`, :func:`gc_matched_windows`, :func:`shuffled_windows`.
6. Splits: :func:`chromosome_split` (hold out whole chromosomes) or :func:`random_split`.

Conventions:

- Coordinates are 0-based and half-open, as in BED: ``[start, end)``.
- The centre of an interval is its summit when it has one (narrowPeak), else its
  midpoint ``(start + end) // 2``. A window of length L centred on base c spans
  ``[c - L // 2, c - L // 2 + L)``, so c is the window's base ``L // 2``.
- One-hot windows are uint8 of shape (N, L, 4), channels A, C, G, T, all-zero for N, as
  :mod:`motiflens.sequences` (which uses float32; ``X.astype(np.float32)`` converts).
  They take N × L × 4 bytes (100,000 windows of 1,000 nt: 400 MB; float32 is four
  times that). Every other step streams over the intervals and keeps only small
  per-interval numbers, so that output is the only large array.
"""

from __future__ import annotations

import bisect
import gzip
import io
import itertools
import math
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Literal

import numpy as np
import numpy.typing as npt
import pyfaidx

from motiflens.errors import InvalidInputError, NotFoundError
from motiflens.sequences import SPLITS, check_one_hot, dinucleotide_shuffle
from motiflens.synthetic import DEFAULT_SPLIT_FRACTIONS

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

# Magic numbers of compressions pyfaidx cannot read, so that we name them instead of failing later.
_OTHER_COMPRESSIONS = {
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
}
# What reading a corrupt BGZF or FASTA file raises inside pyfaidx and Bio.bgzf
# (checked with pyfaidx 0.9.2.2 and biopython 1.88 on truncated and bit-flipped files).
_READ_ERRORS = (
    pyfaidx.FastaIndexingError,
    OSError,
    ValueError,
    EOFError,
    RuntimeError,
    IndexError,
    struct.error,
    zlib.error,
)


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


# --------------------------------------------------------------------------- genome


class Genome:
    """A reference genome FASTA (plain or bgzip-compressed), read by position through pyfaidx.

    Open with :meth:`Genome.open`; use as a context manager or call :meth:`close`.
    pyfaidx builds a ``.fai`` index (and for bgzip a ``.gzi`` index) when it is missing
    or older than the FASTA. By default the indexes are written next to the FASTA, so
    that folder must be writable (or pass ``index_dir``, or open a writable copy).
    """

    def __init__(self, fasta: pyfaidx.Fasta, path: Path, *, compressed: bool = False) -> None:
        self._fasta = fasta
        self.path = path
        self._compressed = compressed
        self._sizes = {name: len(fasta[name]) for name in fasta.keys()}

    @classmethod
    def open(
        cls, path: str | os.PathLike, *, index_dir: str | os.PathLike | None = None, field: str = "genome"
    ) -> Genome:
        """Open a FASTA file, building its index if needed.

        Parameters
        ----------
        path : path
            Uncompressed FASTA, or FASTA compressed with ``bgzip`` (BGZF) and named
            ``.gz`` or ``.bgz``. Contigs are named by the first word of their header.
        index_dir : path, optional
            Folder for the ``.fai``/``.gzi`` indexes (named after the FASTA); default:
            next to the FASTA.
        field : str, default "genome"
            Name used in error messages.

        Raises
        ------
        NotFoundError
            No file at ``path``.
        InvalidInputError
            Plain gzip (not BGZF) or another compression, a truncated or corrupt bgzip
            file, or a file pyfaidx cannot index (inconsistent line lengths, duplicate
            contig names, no record); the message names the file.
        """
        path = Path(path)
        if not path.is_file():
            raise NotFoundError(f"{field}: {path}: no such FASTA file", field=field)
        compressed = _check_compression(path, field)
        indexes = {}
        if index_dir is not None:
            indexes = {
                "indexname": str(Path(index_dir) / f"{path.name}.fai"),
                "gzi_indexname": str(Path(index_dir) / f"{path.name}.gzi"),
            }
        try:
            fasta = pyfaidx.Fasta(str(path), as_raw=True, sequence_always_upper=True, **indexes)
        except _READ_ERRORS as exc:
            raise _read_error(path, field, compressed, exc) from None
        return cls(fasta, path, compressed=compressed)

    @property
    def sizes(self) -> dict[str, int]:
        """Contig name -> length in nt, in FASTA order (a copy)."""
        return dict(self._sizes)

    def contig_length(self, chrom: str, *, field: str = "chrom") -> int:
        """Length of contig ``chrom``; an unknown contig raises, with a naming hint.

        Raises
        ------
        InvalidInputError
            ``chrom`` is not in the genome. When its ``chr``-toggled form (chr1 vs 1,
            chrM vs MT) is, the message says "genome/BED contig naming differs".
        """
        if chrom in self._sizes:
            return self._sizes[chrom]
        raise InvalidInputError(f"{field}: {self._missing_contig_message(chrom)}", field=field)

    def _missing_contig_message(self, chrom: str) -> str:
        message = f"contig {chrom!r} is not in the genome {self.path.name}"
        alternative = next((name for name in _naming_variants(chrom) if name in self._sizes), None)
        if alternative is not None:
            return (
                f"{message}; genome/BED contig naming differs: the genome has {alternative!r} "
                f"where the intervals say {chrom!r}; rename the contigs of one of them"
            )
        shown = ", ".join(list(self._sizes)[:5])
        more = f", ... ({len(self._sizes)} in all)" if len(self._sizes) > 5 else ""
        return f"{message}; its contigs are {shown}{more}"

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """Sequence of ``[start, end)`` on ``chrom``, upper case.

        Raises
        ------
        InvalidInputError
            Unknown contig, or not ``0 <= start < end <= contig length``.
        """
        size = self.contig_length(chrom)
        if not 0 <= start < end <= size:
            raise InvalidInputError(
                f"region: expected 0 <= start < end <= {size} (length of {chrom}), got [{start}, {end})",
                field="region",
            )
        try:
            return str(self._fasta[chrom][start:end])
        except _READ_ERRORS as exc:
            raise _read_error(self.path, "genome", self._compressed, exc) from None

    def close(self) -> None:
        """Close the FASTA file (closing twice is harmless)."""
        self._fasta.close()

    def __enter__(self) -> Genome:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _naming_variants(chrom: str) -> list[str]:
    """Names the same contig has in the other common convention (UCSC chr1/chrM, Ensembl 1/MT)."""
    mitochondrial = {"chrM": "MT", "MT": "chrM", "M": "chrM"}
    toggled = chrom[3:] if chrom.startswith("chr") else f"chr{chrom}"
    return [toggled] + ([mitochondrial[chrom]] if chrom in mitochondrial else [])


def _check_compression(path: Path, field: str) -> bool:
    """Refuse compressions pyfaidx cannot read by position; return whether the file is BGZF."""
    with open(path, "rb") as handle:
        head = handle.read(18)
    named_gz = path.name.lower().endswith((".gz", ".bgz"))
    for magic, kind in _OTHER_COMPRESSIONS.items():
        if head.startswith(magic):
            raise InvalidInputError(
                f"{field}: {path} is {kind}-compressed; accepted: uncompressed FASTA or FASTA "
                f"compressed with bgzip (decompress it, then run `bgzip {path.name}`)",
                field=field,
            )
    if head[:2] == b"\x1f\x8b" and len(head) < 18:
        raise InvalidInputError(
            f"{field}: {path} is a truncated gzip file ({len(head)} bytes); re-create it with bgzip",
            field=field,
        )
    if head[:2] == b"\x1f\x8b":
        # BGZF is gzip whose first member carries the extra subfield "BC" (SAM spec 4.1).
        if not (head[3] & 0x04 and head[12:14] == b"BC"):
            plain = path.name.removesuffix(".gz").removesuffix(".bgz")
            plain = plain if plain != path.name else f"{plain}.plain"
            raise InvalidInputError(
                f"{field}: {path} is compressed with plain gzip, which cannot be read by position; "
                f"recompress it with bgzip: gunzip -c {path.name} > {plain} && bgzip {plain}",
                field=field,
            )
        if not named_gz:
            # pyfaidx decides by the name whether to decompress.
            raise InvalidInputError(
                f"{field}: {path} is bgzip-compressed but its name does not end in .gz or .bgz; rename it",
                field=field,
            )
        return True
    if named_gz:
        raise InvalidInputError(
            f"{field}: {path} is named .gz but is not gzip-compressed; rename it or compress it with bgzip",
            field=field,
        )
    return False


def _read_error(path: Path, field: str, compressed: bool, exc: BaseException) -> InvalidInputError:
    detail = str(exc) or type(exc).__name__
    # Bio.bgzf fails on bad data with these; pyfaidx's own OSError names a missing EOF block.
    corrupt = isinstance(exc, (struct.error, zlib.error, EOFError, RuntimeError)) or "EOF marker" in detail
    if compressed and corrupt:
        return InvalidInputError(
            f"{field}: cannot read {path}: the bgzip file is truncated or corrupt ({detail}); "
            "re-create it with bgzip",
            field=field,
        )
    return InvalidInputError(f"{field}: cannot read {path} as a FASTA genome: {detail}", field=field)


# --------------------------------------------------------------------------- windows


@dataclass
class WindowCounts:
    """What happened to the intervals given to :func:`extract_windows` (or background_windows).

    Attributes
    ----------
    requested : int
        Intervals examined.
    kept : int
        Windows returned.
    off_chromosome_end : int
        Dropped: the window runs past either end of its chromosome.
    too_many_n : int
        Dropped: more than ``max_n_fraction`` of the window is N (or another non-ACGT letter).
    overlapping_excluded : int
        Dropped: the window overlaps an excluded interval (background_windows only).
    """

    requested: int = 0
    kept: int = 0
    off_chromosome_end: int = 0
    too_many_n: int = 0
    overlapping_excluded: int = 0


def extract_windows(
    genome: Genome,
    intervals: Sequence[Interval],
    *,
    length: int,
    centre: Centre = "summit",
    max_n_fraction: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, WindowCounts]:
    """One-hot windows of ``length`` nt centred on each interval.

    Window i is ``centred_window(intervals[kept_index[i]], length=length, centre=centre)``.
    Windows running off either chromosome end, and windows with more than
    ``max_n_fraction`` N, are dropped and counted. The intervals are read twice (check,
    then fetch), one at a time; memory beyond the output is O(1) per interval.

    Parameters
    ----------
    genome : Genome
    intervals : sequence of Interval
    length : int
        Window length L, 1 to 100,000.
    centre : {"summit", "midpoint"}, default "summit"
        Centre on the summit when an interval has one (narrowPeak), else its midpoint;
        "midpoint" always uses the midpoint.
    max_n_fraction : float, default 0.1
        Keep windows whose fraction of N (any letter other than ACGT) is at most this.

    Returns
    -------
    X : np.ndarray, shape (N, L, 4), uint8
        One-hot windows, channels A, C, G, T; N columns are all zero. N × L × 4 bytes
        (at most len(intervals) × L × 4 while filling).
    kept_index : np.ndarray, shape (N,), int64
        Index into ``intervals`` of each window, increasing.
    counts : WindowCounts

    Raises
    ------
    InvalidInputError
        Bad ``length``, ``centre`` or ``max_n_fraction``; an interval on a contig the
        genome lacks; ``length`` longer than every chromosome the intervals lie on.
    """
    return _extract(
        genome, intervals, range(len(intervals)), length, centre, max_n_fraction, limit=None, exclude=None
    )


def _check_length(length: int, max_n_fraction: float) -> None:
    """Validate the window length and the N fraction shared by every window function."""
    if (
        isinstance(length, bool)
        or not isinstance(length, (int, np.integer))
        or not 1 <= length <= MAX_WINDOW_LENGTH
    ):
        raise InvalidInputError(
            f"length: expected an integer from 1 to {MAX_WINDOW_LENGTH} nt, got {length!r}", field="length"
        )
    # NaN fails both comparisons, so this also refuses it.
    if (
        isinstance(max_n_fraction, bool)
        or not isinstance(max_n_fraction, (int, float, np.floating))
        or not (0.0 <= max_n_fraction <= 1.0)
    ):
        raise InvalidInputError(
            f"max_n_fraction: expected a finite number in [0, 1], got {max_n_fraction!r}",
            field="max_n_fraction",
        )


def _check_positive_int(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidInputError(f"{name}: expected a positive integer, got {value!r}", field=name)


def _count_in_bounds(genome: Genome, intervals: Sequence[Interval], length: int, centre: Centre) -> int:
    """Windows that fit on their chromosome; raises for unknown contigs and a too-long length."""
    in_bounds = 0
    longest = 0
    for index, interval in enumerate(intervals):
        size = genome.contig_length(interval.chrom, field=f"intervals[{index}].chrom")
        longest = max(longest, size)
        start = _window_start(interval, length, centre)
        in_bounds += start >= 0 and start + length <= size
    if intervals and length > longest:
        raise InvalidInputError(
            f"length: a window of {length} nt is longer than every chromosome the intervals lie on "
            f"(the longest is {longest} nt)",
            field="length",
        )
    return in_bounds


def _extract(
    genome: Genome,
    intervals: Sequence[Interval],
    order: Sequence[int],
    length: int,
    centre: Centre,
    max_n_fraction: float,
    *,
    limit: int | None,
    exclude: _IntervalIndex | None,
) -> tuple[np.ndarray, np.ndarray, WindowCounts]:
    """Windows of ``intervals[order]`` until ``limit`` are kept, skipping those overlapping ``exclude``."""
    _check_length(length, max_n_fraction)
    if centre not in ("summit", "midpoint"):
        raise InvalidInputError(f"centre: expected 'summit' or 'midpoint', got {centre!r}", field="centre")
    rows = _count_in_bounds(genome, intervals, length, centre)
    rows = rows if limit is None else min(rows, limit)
    X = np.empty((rows, length, 4), dtype=np.uint8)
    kept_index = np.empty(rows, dtype=np.int64)
    counts = WindowCounts()
    for index in order:
        if limit is not None and counts.kept == limit:
            break
        counts.requested += 1
        chrom, start = intervals[index].chrom, _window_start(intervals[index], length, centre)
        if start < 0 or start + length > genome.contig_length(chrom):
            counts.off_chromosome_end += 1
            continue
        if exclude is not None and exclude.overlaps(chrom, start, start + length):
            counts.overlapping_excluded += 1
            continue
        codes = _codes(genome.fetch(chrom, start, start + length))
        if np.count_nonzero(codes == _N_CODE) > max_n_fraction * length:
            counts.too_many_n += 1
            continue
        X[counts.kept] = _ONE_HOT[codes]
        kept_index[counts.kept] = index
        counts.kept += 1
    return _shrink(X, counts.kept), _shrink(kept_index, counts.kept), counts


def _codes(sequence: str) -> np.ndarray:
    """Codes 0-3 (ACGT) and 4 (anything else) of a sequence, shape (L,), uint8."""
    return _CODE[np.frombuffer(sequence.encode("ascii", "replace"), dtype=np.uint8)]


def _shrink(array: np.ndarray, rows: int) -> np.ndarray:
    # Resizing in place avoids a second copy of the (possibly large) output.
    if array.shape[0] != rows:
        array.resize((rows, *array.shape[1:]), refcheck=False)
    return array


# --------------------------------------------------------------------------- labels


class _IntervalIndex:
    """Intervals sorted by start per chromosome, with the running maximum of their ends.

    Among the intervals starting before a query's end, some overlap the query exactly
    when the largest of their ends passes the query's start: one binary search per query,
    O(log P) after an O(P log P) build.
    """

    def __init__(self, intervals: Sequence[Interval]) -> None:
        by_chrom: dict[str, tuple[list[int], list[int]]] = {}
        for interval in intervals:
            starts, ends = by_chrom.setdefault(interval.chrom, ([], []))
            starts.append(interval.start)
            ends.append(interval.end)
        self._starts: dict[str, np.ndarray] = {}
        self._max_end: dict[str, np.ndarray] = {}
        for chrom, (starts, ends) in by_chrom.items():
            order = np.argsort(starts, kind="stable")
            self._starts[chrom] = np.asarray(starts, dtype=np.int64)[order]
            self._max_end[chrom] = np.maximum.accumulate(np.asarray(ends, dtype=np.int64)[order])

    def overlaps(self, chrom: str, start: int, end: int) -> bool:
        """Whether any interval overlaps ``[start, end)`` on ``chrom``."""
        starts = self._starts.get(chrom)
        if starts is None:
            return False
        last = int(np.searchsorted(starts, end, side="left")) - 1
        return last >= 0 and bool(self._max_end[chrom][last] > start)

    def covers(self, chrom: str, positions: np.ndarray) -> np.ndarray:
        """Whether some interval covers each base in ``positions`` (shape (K,)) on ``chrom``."""
        starts = self._starts.get(chrom)
        if starts is None:
            return np.zeros(positions.shape, dtype=bool)
        last = np.searchsorted(starts, positions, side="right") - 1
        return (last >= 0) & (self._max_end[chrom][np.maximum(last, 0)] > positions)


def label_windows(windows: Sequence[Interval], tracks: Sequence[Sequence[Interval]]) -> np.ndarray:
    """Multi-task labels: whether a peak of each track covers each window's centre base.

    Rule: ``labels[i, t] = 1`` when some peak ``p`` of track ``t`` on window i's
    chromosome has ``p.start <= c < p.end``, where ``c = w.start + (w.end - w.start) // 2``
    is the centre base of window ``w = windows[i]`` (for a :func:`centred_window`, the
    summit or midpoint it was centred on); else 0. Cost O((N + P) log P) for P peaks.

    Parameters
    ----------
    windows : sequence of Interval
        N windows, e.g. ``centred_window`` of the kept intervals.
    tracks : sequence of sequences of Interval
        T peak sets (one per BED file or task), T >= 1.

    Returns
    -------
    np.ndarray, shape (N, T), float32
        Values 0 or 1.
    """
    if isinstance(tracks, (str, bytes)) or len(tracks) == 0:
        raise InvalidInputError("tracks: expected at least one list of peaks (one per task)", field="tracks")
    centres = np.fromiter(
        (w.start + (w.end - w.start) // 2 for w in windows), dtype=np.int64, count=len(windows)
    )
    rows_by_chrom: dict[str, list[int]] = {}
    for row, window in enumerate(windows):
        rows_by_chrom.setdefault(window.chrom, []).append(row)
    labels = np.zeros((len(windows), len(tracks)), dtype=np.float32)
    for task, peaks in enumerate(tracks):
        index = _IntervalIndex(peaks)
        for chrom, rows in rows_by_chrom.items():
            labels[rows, task] = index.covers(chrom, centres[rows])
    return labels


# --------------------------------------------------------------------------- negatives


def background_windows(
    genome: Genome,
    intervals: Sequence[Interval],
    *,
    length: int,
    seed: int,
    count: int | None = None,
    exclude: Sequence[Interval] = (),
    centre: Centre = "summit",
    max_n_fraction: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, WindowCounts]:
    """Negative windows from a background BED, with the rules of :func:`extract_windows`.

    Without ``count``, every background interval is tried in file order (``seed`` is then
    unused). With ``count``, the intervals are tried in the order of
    ``np.random.default_rng(seed).permutation`` until ``count`` windows are kept, so the
    same seed gives the same negatives. Windows overlapping ``exclude`` (e.g. the positive
    windows) are dropped and counted in ``overlapping_excluded``.

    Parameters
    ----------
    genome : Genome
    intervals : sequence of Interval
        Background intervals.
    length : int
        Window length L, 1 to 100,000.
    seed : int
        Seed of the random order.
    count : int, optional
        Windows wanted; fewer come back when the background runs out (see ``counts``).
    exclude : sequence of Interval, default ()
        Intervals no negative may overlap.
    centre, max_n_fraction
        As for :func:`extract_windows`.

    Returns
    -------
    X : np.ndarray, shape (N, L, 4), uint8
        N × L × 4 bytes, N <= count.
    index : np.ndarray, shape (N,), int64
        Index into ``intervals`` of each window (in the order tried).
    counts : WindowCounts
    """
    if count is None:
        order: Sequence[int] = range(len(intervals))
    else:
        _check_positive_int(count, "count")
        order = np.random.default_rng(seed).permutation(len(intervals)).tolist()
    index = _IntervalIndex(exclude) if exclude else None
    return _extract(genome, intervals, order, length, centre, max_n_fraction, limit=count, exclude=index)


@dataclass
class GcMatchCounts:
    """Outcome of :func:`gc_matched_windows`.

    Attributes
    ----------
    requested : int
        Windows asked for.
    found : int
        Windows returned (fewer than requested when ``max_tries`` ran out).
    tries : int
        Random windows drawn.
    overlapping : int
        Rejected: overlaps a positive or an earlier negative.
    too_many_n : int
        Rejected: more than ``max_n_fraction`` N.
    bin_full : int
        Rejected: its GC bin already had its share.
    target_per_bin, found_per_bin : np.ndarray, shape (bins,), int64
        Windows wanted and found per GC bin.
    """

    requested: int
    found: int = 0
    tries: int = 0
    overlapping: int = 0
    too_many_n: int = 0
    bin_full: int = 0
    target_per_bin: np.ndarray = dataclass_field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    found_per_bin: np.ndarray = dataclass_field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def gc_content(X: npt.ArrayLike) -> np.ndarray:
    """GC fraction of the called (non-N) bases of each one-hot sequence.

    Parameters
    ----------
    X : array_like, shape (N, L, 4)
        One-hot DNA, channels A, C, G, T.

    Returns
    -------
    np.ndarray, shape (N,), float64
        (C + G) / (A + C + G + T) per sequence; 0 for a sequence of only N.
    """
    X = check_one_hot(X, allow_empty=True)
    totals = X.sum(axis=(1, 2), dtype=np.float64)
    gc = X[..., 1:3].sum(axis=(1, 2), dtype=np.float64)
    return np.divide(gc, totals, out=np.zeros_like(gc), where=totals > 0)


def _gc_bin(gc: np.ndarray | float, bins: int) -> np.ndarray:
    """Bin of GC fractions in ``bins`` equal bins over [0, 1] (1.0 falls in the last)."""
    return np.minimum((np.asarray(gc) * bins).astype(np.int64), bins - 1)


def _bin_targets(positive_bins: np.ndarray, count: int, bins: int) -> np.ndarray:
    """Split ``count`` over bins in proportion to the positives (largest remainders round up)."""
    share = np.bincount(positive_bins, minlength=bins) * count / positive_bins.size
    targets = np.floor(share).astype(np.int64)
    extra = count - int(targets.sum())
    targets[np.argsort(-(share - targets), kind="stable")[:extra]] += 1
    return targets


def gc_matched_windows(
    genome: Genome,
    positives_one_hot: npt.ArrayLike,
    positive_intervals: Sequence[Interval],
    *,
    count: int,
    length: int,
    seed: int,
    max_tries: int | None = None,
    bins: int = 20,
    max_n_fraction: float = 0.1,
) -> tuple[np.ndarray, list[Interval], GcMatchCounts]:
    """Random genome windows whose GC-content histogram matches the positives'.

    Procedure: the positives' GC fractions (of non-N bases) are binned into ``bins``
    equal bins over [0, 1] and ``count`` is shared out over the bins in proportion (largest
    remainders round up). Then windows are drawn uniformly over every start position of
    every chromosome at least ``length`` long, from ``np.random.default_rng(seed)``; a
    window is rejected when it overlaps a positive or an earlier negative, has more than
    ``max_n_fraction`` N, or falls in a GC bin that already has its share. Drawing stops
    when every bin is full or after ``max_tries`` draws, so a small genome gives fewer
    windows than asked (``counts.found``), never an endless loop.

    Parameters
    ----------
    genome : Genome
    positives_one_hot : array_like, shape (P, L, 4)
        The positive windows.
    positive_intervals : sequence of Interval
        Their P genome windows (e.g. ``centred_window`` of the kept peaks); negatives
        overlap none of them.
    count : int
        Negatives wanted.
    length : int
        Window length L; must equal the positives' length.
    seed : int
        Seed of ``np.random.default_rng``; the same seed gives the same negatives.
    max_tries : int, optional
        Most windows drawn; default 100 × count.
    bins : int, default 20
        GC bins over [0, 1] (width 0.05).
    max_n_fraction : float, default 0.1

    Returns
    -------
    X : np.ndarray, shape (M, L, 4), uint8
        M = ``counts.found`` <= count windows, in the order found; M × L × 4 bytes.
    windows : list of Interval
        Their genome coordinates (name "gc_matched").
    counts : GcMatchCounts
    """
    X_pos = check_one_hot(positives_one_hot, "positives_one_hot")
    _check_positive_int(count, "count")
    _check_positive_int(bins, "bins")
    _check_length(length, max_n_fraction)
    max_tries = 100 * count if max_tries is None else max_tries
    _check_positive_int(max_tries, "max_tries")
    if X_pos.shape[1] != length:
        raise InvalidInputError(
            f"positives_one_hot: expected length {length} nt, got {X_pos.shape[1]}", field="positives_one_hot"
        )
    if len(positive_intervals) != X_pos.shape[0]:
        raise InvalidInputError(
            f"positive_intervals: expected {X_pos.shape[0]} intervals (one per positive window), "
            f"got {len(positive_intervals)}",
            field="positive_intervals",
        )
    targets = _bin_targets(_gc_bin(gc_content(X_pos), bins), count, bins)
    counts = GcMatchCounts(requested=count, target_per_bin=targets, found_per_bin=np.zeros(bins, np.int64))
    X, windows = _draw_gc_matched(
        genome, _IntervalIndex(positive_intervals), length, seed, max_tries, max_n_fraction, counts
    )
    return X, windows, counts


def _draw_gc_matched(
    genome: Genome,
    positives: _IntervalIndex,
    length: int,
    seed: int,
    max_tries: int,
    max_n_fraction: float,
    counts: GcMatchCounts,
) -> tuple[np.ndarray, list[Interval]]:
    """The sampling loop of :func:`gc_matched_windows`; fills ``counts`` as it goes."""
    chroms = [chrom for chrom, size in genome.sizes.items() if size >= length]
    if not chroms:
        raise InvalidInputError(
            f"length: a window of {length} nt is longer than every chromosome "
            f"(the longest is {max(genome.sizes.values())} nt)",
            field="length",
        )
    # Every start position of every chromosome, laid end to end, drawn uniformly.
    first_start = np.cumsum([0] + [genome.sizes[chrom] - length + 1 for chrom in chroms])
    rng = np.random.default_rng(seed)
    bins = counts.target_per_bin.size
    X = np.empty((counts.requested, length, 4), dtype=np.uint8)
    windows: list[Interval] = []
    # Starts of accepted negatives per chromosome, sorted: all have length L, so a new
    # one overlaps an old one exactly when their starts differ by less than L.
    taken: dict[str, list[int]] = {}
    while counts.tries < max_tries and counts.found < counts.requested:
        draws = rng.integers(0, first_start[-1], size=min(1024, max_tries - counts.tries))
        for draw in draws.tolist():
            counts.tries += 1
            chrom_index = int(np.searchsorted(first_start, draw, side="right")) - 1
            chrom, start = chroms[chrom_index], draw - int(first_start[chrom_index])
            starts = taken.setdefault(chrom, [])
            position = bisect.bisect_left(starts, start)
            near = starts[max(position - 1, 0) : position + 1]
            if positives.overlaps(chrom, start, start + length) or any(abs(s - start) < length for s in near):
                counts.overlapping += 1
                continue
            codes = _codes(genome.fetch(chrom, start, start + length))
            if np.count_nonzero(codes == _N_CODE) > max_n_fraction * length:
                counts.too_many_n += 1
                continue
            called = max(int(np.count_nonzero(codes < _N_CODE)), 1)
            gc_bin = int(_gc_bin(np.count_nonzero((codes == 1) | (codes == 2)) / called, bins))
            if counts.found_per_bin[gc_bin] >= counts.target_per_bin[gc_bin]:
                counts.bin_full += 1
                continue
            X[counts.found] = _ONE_HOT[codes]
            windows.append(Interval(chrom, start, start + length, None, "gc_matched"))
            starts.insert(position, start)
            counts.found_per_bin[gc_bin] += 1
            counts.found += 1
            if counts.found == counts.requested:
                break
    return _shrink(X, counts.found), windows


def shuffled_windows(positives_one_hot: npt.ArrayLike, seed: int) -> np.ndarray:
    """Dinucleotide-shuffled copies of the positives (one per positive).

    Each is :func:`motiflens.sequences.dinucleotide_shuffle` of a positive: the same
    dinucleotide counts (so the same composition and GC), with motifs destroyed.

    Parameters
    ----------
    positives_one_hot : array_like, shape (N, L, 4)
        Hard one-hot windows (uint8 from :func:`extract_windows`, or float).
    seed : int
        The same seed gives the same shuffles.

    Returns
    -------
    np.ndarray, shape (N, L, 4), same dtype
    """
    X = check_one_hot(positives_one_hot, "positives_one_hot", allow_empty=True)
    return dinucleotide_shuffle(X, num_shuffles=1, seed=seed)[:, 0]


# --------------------------------------------------------------------------- splits


def chromosome_split(
    chroms: Sequence[str], *, valid_chroms: Sequence[str], test_chroms: Sequence[str]
) -> np.ndarray:
    """Assign windows to splits by chromosome, so no chromosome spans two splits.

    Parameters
    ----------
    chroms : sequence of str
        Chromosome of each of N windows.
    valid_chroms, test_chroms : sequence of str
        Chromosomes held out for validation and for test; all others train.

    Returns
    -------
    np.ndarray, shape (N,), str
        "train", "valid" or "test" per window.

    Raises
    ------
    InvalidInputError
        A chromosome in both lists, or a listed chromosome no window lies on (a typo
        or a naming mismatch would otherwise leave a split silently empty).
    """
    both = sorted(set(valid_chroms) & set(test_chroms))
    if both:
        raise InvalidInputError(
            f"test_chroms: {', '.join(both)} also in valid_chroms; a chromosome goes to one split",
            field="test_chroms",
        )
    present = set(chroms)
    for name, listed in (("valid_chroms", valid_chroms), ("test_chroms", test_chroms)):
        missing = sorted(set(listed) - present)
        if missing:
            raise InvalidInputError(
                f"{name}: no window lies on {', '.join(missing)}; windows lie on "
                f"{', '.join(sorted(present)) or 'no chromosome'}",
                field=name,
            )
    chrom_array = np.asarray(chroms, dtype=str)
    splits = np.full(chrom_array.shape, SPLITS[0], dtype=f"<U{max(map(len, SPLITS))}")
    splits[np.isin(chrom_array, list(valid_chroms))] = "valid"
    splits[np.isin(chrom_array, list(test_chroms))] = "test"
    return splits


def random_split(n: int, seed: int, fractions: Sequence[float] = DEFAULT_SPLIT_FRACTIONS) -> np.ndarray:
    """Assign n rows to splits at random.

    The rule of the trainer's FASTA import: shuffle with
    ``np.random.default_rng(seed).permutation(n)``; the first ``round(f_train * n)`` rows
    of it train, the next ``round(f_valid * n)`` validate, the rest test.

    Parameters
    ----------
    n : int
        Number of rows, >= 0.
    seed : int
    fractions : (float, float, float), default (0.7, 0.1, 0.2)
        Train, valid and test fractions, positive, summing to 1.

    Returns
    -------
    np.ndarray, shape (n,), str
        "train", "valid" or "test" per row.
    """
    values = tuple(float(f) for f in fractions)
    if len(values) != 3 or not all(math.isfinite(f) and f > 0 for f in values) or abs(sum(values) - 1) > 1e-9:
        raise InvalidInputError(
            f"fractions: expected 3 positive fractions (train, valid, test) summing to 1, got {values}",
            field="fractions",
        )
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise InvalidInputError(f"n: expected a non-negative integer, got {n!r}", field="n")
    order = np.random.default_rng(seed).permutation(n)
    num_train, num_valid = round(values[0] * n), round(values[1] * n)
    splits = np.full(n, "test", dtype=f"<U{max(map(len, SPLITS))}")
    splits[order[:num_train]] = "train"
    splits[order[num_train : num_train + num_valid]] = "valid"
    return splits
