"""Motifs as position probability matrices: information content, trimming, file formats and databases.

JASPAR comes from the ``pyjaspar`` package, which ships every release from
JASPAR2014 to JASPAR2026 as an SQLite file, so no network is needed. The paper
matched filters against JASPAR CORE 2016 vertebrates (519 motifs) and built its
synthetic data from JASPAR 2016 motifs, hence the default release.

Files: :func:`read_meme` and :func:`write_meme` handle the MEME motif format
(version 4, the "minimal" format that Tomtom and FIMO read), :func:`read_jaspar`
the JASPAR matrix format (``>MA0001.1 AGL3`` then four count rows). Paths and
open text streams are both accepted. :func:`motif_database` gives an immutable,
cached :class:`MotifDatabase` for a JASPAR release or a motif file.
"""

from __future__ import annotations

import functools
import io
import math
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TextIO

import numpy as np
import numpy.typing as npt

from motiflens.errors import InvalidInputError, NotFoundError

DEFAULT_RELEASE = "JASPAR2016"

# Suffix that marks a reverse-complemented motif id, e.g. "MA0151.1(rc)".
RC_SUFFIX = "(rc)"


def information_content(pwm: npt.ArrayLike) -> np.ndarray:
    """Information content of each position in bits, against a uniform background.

    ``IC = 2 + sum_b p_b log2 p_b`` with ``0 log 0 = 0`` and no pseudocount: a column
    ``[1, 0, 0, 0]`` has 2 bits, a uniform column 0 bits, an all-zero column (no
    model there) 2 bits. The one home of this computation: motifs, first-layer
    filter PWMs, logos and the ground-truth sequence models of the synthetic tasks.

    Parameters
    ----------
    pwm : array_like, shape (W, 4) or (..., W, 4)
        Base probabilities per position (A, C, G, T); a stack such as ground-truth
        models (N, L, 4) is computed position by position.

    Returns
    -------
    np.ndarray, shape (W,) or (..., W), float64
        Values clipped to [0, 2].
    """
    pwm = np.asarray(pwm, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(pwm > 0, pwm * np.log2(pwm), 0.0)
    # Round-off can leave a uniform column a hair below zero.
    return np.clip(2.0 + terms.sum(axis=-1), 0.0, 2.0)


@dataclass(frozen=True, eq=False)
class Motif:
    """A DNA motif as a position probability matrix.

    Attributes
    ----------
    motif_id : str
        Database id, e.g. ``"MA0151.1"``; ids of reverse complements end in ``"(rc)"``.
    name : str
        Transcription factor name as the database spells it, e.g. ``"Arid3a"``.
    pwm : np.ndarray, shape (W, 4), float64
        Base probabilities per position, columns A, C, G, T; every row sums to 1.
        Stored as a read-only copy, so motifs shared through caches cannot be altered.
    nsites : float, default 0
        Number of sites the matrix was counted from (MEME's ``nsites=``, JASPAR's
        column total); 0 when unknown. Tomtom's pseudocount weighs by it (MEME takes
        20 when it is unknown).

    Raises
    ------
    InvalidInputError
        If ``pwm`` is not (W, 4) with W >= 1, has negative or non-finite entries, or
        a row that does not sum to 1 (tolerance 1e-6).
    """

    motif_id: str
    name: str
    pwm: np.ndarray
    nsites: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.nsites, (int, float, np.integer, np.floating)) or not (
            math.isfinite(self.nsites) and self.nsites >= 0
        ):
            raise InvalidInputError(
                f"{self.motif_id}: nsites: expected a finite number >= 0, got {self.nsites!r}"
            )
        object.__setattr__(self, "nsites", float(self.nsites))
        pwm = np.array(self.pwm, dtype=np.float64)
        if pwm.ndim != 2 or pwm.shape[1] != 4 or pwm.shape[0] == 0:
            raise InvalidInputError(f"{self.motif_id}: pwm: expected shape (W, 4), W >= 1, got {pwm.shape}")
        if not np.all(np.isfinite(pwm)) or np.any(pwm < 0):
            raise InvalidInputError(f"{self.motif_id}: pwm: expected finite non-negative probabilities")
        row_sums = pwm.sum(axis=1)
        bad = np.flatnonzero(np.abs(row_sums - 1.0) > 1e-6)
        if bad.size:
            raise InvalidInputError(
                f"{self.motif_id}: pwm row {int(bad[0])}: expected probabilities summing to 1, "
                f"got {row_sums[bad[0]]:.6g}"
            )
        pwm.setflags(write=False)
        # The dataclass is frozen; this is the one sanctioned write, in construction.
        object.__setattr__(self, "pwm", pwm)

    @property
    def width(self) -> int:
        """W, the number of positions."""
        return int(self.pwm.shape[0])

    @property
    def consensus(self) -> str:
        """The most probable base at each position (ties go to the first of A, C, G, T)."""
        return "".join("ACGT"[i] for i in self.pwm.argmax(axis=1))

    def reverse_complement(self) -> Motif:
        """The motif on the opposite strand.

        Rows are reversed and, with columns in A, C, G, T order, the complement is the
        column axis reversed. The id gains the suffix ``"(rc)"`` (``"MA0151.1"`` becomes
        ``"MA0151.1(rc)"``) and loses it again on a second reverse complement, so the
        operation is its own inverse. The name stays the TF name: both strands are
        bound by the same factor.

        Returns
        -------
        Motif
        """
        if self.motif_id.endswith(RC_SUFFIX):
            motif_id = self.motif_id[: -len(RC_SUFFIX)]
        else:
            motif_id = self.motif_id + RC_SUFFIX
        return Motif(motif_id=motif_id, name=self.name, pwm=self.pwm[::-1, ::-1], nsites=self.nsites)

    @property
    def information_content(self) -> np.ndarray:
        """Information content of each position in bits (:func:`information_content` of the PWM).

        Returns
        -------
        np.ndarray, shape (W,), float64
            Values in [0, 2].
        """
        return information_content(self.pwm)

    @property
    def total_information_content(self) -> float:
        """Sum of :attr:`information_content` over the positions, in bits."""
        return float(self.information_content.sum())

    def trim(self, threshold: float = 0.5, padding: int = 3) -> Motif | None:
        """Cut uninformative flanks, as the paper did before running Tomtom on filters.

        Keeps the positions from the first to the last one whose information
        content exceeds ``threshold`` (strictly), plus up to ``padding`` positions on
        each side (fewer where the motif ends). Interior positions below the
        threshold are kept. The id and name are unchanged.

        Parameters
        ----------
        threshold : float, default 0.5
            Bits a position must exceed to count as informative.
        padding : int, default 3
            Positions kept on each side of the informative span.

        Returns
        -------
        Motif or None
            The trimmed motif, or ``None`` when no position exceeds ``threshold``:
            such a motif has nothing to compare, and ``None`` lets callers drop it
            rather than pass a flat matrix on to Tomtom.

        Raises
        ------
        InvalidInputError
            If ``padding`` is negative or ``threshold`` is not finite.
        """
        if not math.isfinite(threshold):
            raise InvalidInputError(
                f"threshold: expected a finite number of bits, got {threshold!r}", field="threshold"
            )
        if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0:
            raise InvalidInputError(f"padding: expected an integer >= 0, got {padding!r}", field="padding")
        informative = np.flatnonzero(self.information_content > threshold)
        if informative.size == 0:
            return None
        start = max(0, int(informative[0]) - int(padding))
        stop = min(self.width, int(informative[-1]) + int(padding) + 1)
        return Motif(motif_id=self.motif_id, name=self.name, pwm=self.pwm[start:stop], nsites=self.nsites)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Motif):
            return NotImplemented
        return (
            self.motif_id == other.motif_id
            and self.name == other.name
            and self.pwm.shape == other.pwm.shape
            and bool(np.array_equal(self.pwm, other.pwm))
        )

    def __hash__(self) -> int:
        return hash((self.motif_id, self.name, self.pwm.tobytes()))


@functools.lru_cache(maxsize=1)
def jaspar_releases() -> tuple[str, ...]:
    """JASPAR releases that the installed ``pyjaspar`` ships, newest first.

    Returns
    -------
    tuple of str
        E.g. ``("JASPAR2026", ..., "JASPAR2014")``.
    """
    from pyjaspar import jaspardb

    database = jaspardb()
    try:
        return tuple(database.get_releases())
    finally:
        database.conn.close()


def _check_release(release: str) -> None:
    known = jaspar_releases()
    if release not in known:
        raise InvalidInputError(
            f"release: unknown JASPAR release {release!r}; known: {', '.join(known)}", field="release"
        )


def _from_jaspar(record) -> Motif:
    """Convert a Bio.motifs.jaspar.Motif (counts) to a Motif (probabilities, no pseudocount)."""
    counts = np.array([record.counts[base] for base in "ACGT"], dtype=np.float64).T
    # JASPAR columns can have different totals (sites missing at the edges), so
    # each position is normalised by its own total.
    totals = counts.sum(axis=1, keepdims=True)
    # JASPAR's MEME files give nsites as the first column's total.
    return Motif(motif_id=record.matrix_id, name=record.name, pwm=counts / totals, nsites=float(totals[0, 0]))


@functools.lru_cache(maxsize=16)
def jaspar_motifs(
    release: str = DEFAULT_RELEASE, collection: str = "CORE", tax_group: str | None = "vertebrates"
) -> tuple[Motif, ...]:
    """Every motif of one JASPAR collection and taxonomic group.

    Parameters
    ----------
    release : str, default "JASPAR2016"
        One of :func:`jaspar_releases`.
    collection : str, default "CORE"
        JASPAR collection, e.g. "CORE", "UNVALIDATED", "PBM".
    tax_group : str or None, default "vertebrates"
        JASPAR taxonomic group, e.g. "vertebrates", "plants", "insects"; None for
        all groups (JASPAR2018 CORE then has the 1404 motifs of MEME's
        ``JASPAR2018_CORE_non-redundant.meme``).

    Returns
    -------
    tuple of Motif
        In the database's order. Each PWM is the JASPAR count matrix
        divided by its column totals. JASPAR2016 CORE vertebrates has 519 motifs.
        The result is cached per argument set.

    Raises
    ------
    InvalidInputError
        Unknown release (the message lists the known ones).
    NotFoundError
        No motif in that collection and taxonomic group.
    """
    from pyjaspar import jaspardb

    _check_release(release)
    database = jaspardb(release=release)
    try:
        records = database.fetch_motifs(
            collection=collection, tax_group=None if tax_group is None else [tax_group]
        )
    finally:
        database.conn.close()
    if not records:
        raise NotFoundError(f"{release}: no motif in collection {collection!r} with tax_group {tax_group!r}")
    return tuple(_from_jaspar(record) for record in records)


@functools.lru_cache(maxsize=1024)
def jaspar_motif(motif_id: str, release: str = DEFAULT_RELEASE) -> Motif:
    """One JASPAR motif by matrix id, from any collection of the release.

    Parameters
    ----------
    motif_id : str
        Matrix id with version, e.g. ``"MA0151.1"``; a base id without version
        (``"MA0151"``) gives the latest version in that release.
    release : str, default "JASPAR2016"
        One of :func:`jaspar_releases`.

    Returns
    -------
    Motif
        PWM = JASPAR counts divided by their column totals (no pseudocount).

    Raises
    ------
    InvalidInputError
        Unknown release (the message lists the known ones).
    NotFoundError
        No motif with that id in the release.
    """
    from pyjaspar import jaspardb

    _check_release(release)
    database = jaspardb(release=release)
    try:
        with warnings.catch_warnings():
            # pyjaspar warns and returns None for an unknown id; the None is handled below.
            warnings.simplefilter("ignore")
            record = database.fetch_motif_by_id(motif_id)
    finally:
        database.conn.close()
    if record is None:
        raise NotFoundError(f"motif_id: no motif {motif_id!r} in {release}")
    return _from_jaspar(record)


# ---------------------------------------------------------------------------
# Motif files
# ---------------------------------------------------------------------------

# MEME files are usually written with 6 decimals, so a row can miss 1 by a few 1e-6;
# hand-edited or coarsely rounded files miss by more. Rows within this distance of
# 1 are renormalised, rows further off are rejected as malformed.
ROW_SUM_TOLERANCE = 0.01

_MEME_VERSION = re.compile(r"MEME version (\d+)")
_KEY_VALUE = re.compile(r"(\w+)=\s*(\S+)")


def _open_text(path_or_stream: str | os.PathLike | TextIO) -> tuple[list[str], str]:
    """The lines of a file or text stream, and a label for error messages."""
    if isinstance(path_or_stream, (str, os.PathLike)):
        path = Path(path_or_stream)
        try:
            with path.open(encoding="utf-8") as handle:
                return handle.read().splitlines(), str(path)
        except FileNotFoundError:
            raise NotFoundError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise InvalidInputError(f"{path}: expected a motif file, got a directory") from None
        except UnicodeDecodeError as error:
            raise InvalidInputError(f"{path}: expected a UTF-8 text file ({error.reason})") from None
    if not hasattr(path_or_stream, "read"):
        raise InvalidInputError(
            f"path_or_stream: expected a path or a text stream, got {type(path_or_stream).__name__}",
            field="path_or_stream",
        )
    text = path_or_stream.read()
    if isinstance(text, bytes):
        raise InvalidInputError(
            "path_or_stream: expected a text stream, got a binary one", field="path_or_stream"
        )
    return text.splitlines(), getattr(path_or_stream, "name", "<stream>")


def _parse_float(token: str) -> float | None:
    """A finite float, or None when ``token`` is not one (``nan`` and ``inf`` included)."""
    try:
        value = float(token)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class _Lines:
    """Numbered access to the lines of one input, with errors that name the line."""

    def __init__(self, lines: list[str], source: str) -> None:
        self.lines = lines
        self.source = source

    def __len__(self) -> int:
        return len(self.lines)

    def text(self, index: int) -> str:
        return self.lines[index].strip()

    def error(self, index: int, reason: str) -> InvalidInputError:
        """An InvalidInputError for the 0-based line ``index`` (reported 1-based)."""
        return InvalidInputError(f"{self.source}: line {index + 1}: {reason}")


def _probability_row(lines: _Lines, index: int, alength: int) -> list[float]:
    tokens = lines.text(index).split()
    if len(tokens) != alength:
        raise lines.error(index, f"expected {alength} probabilities (A C G T), got {len(tokens)}")
    values = []
    for token in tokens:
        value = _parse_float(token)
        if value is None:
            raise lines.error(index, f"expected a number, got {token!r}")
        if value < 0:
            raise lines.error(index, f"expected probabilities >= 0, got {token}")
        values.append(value)
    total = sum(values)
    if abs(total - 1.0) > ROW_SUM_TOLERANCE:
        raise lines.error(index, f"probabilities sum to {total:.6g}; expected 1 within {ROW_SUM_TOLERANCE}")
    return [value / total for value in values]


def _looks_like_row(text: str) -> bool:
    tokens = text.split()
    return bool(tokens) and _parse_float(tokens[0]) is not None


def _parse_background(lines: _Lines, index: int) -> int:
    """Check the frequencies after a 'Background letter frequencies' line; return the next index."""
    values: dict[str, float] = {}
    start = index
    index += 1
    while len(values) < 4:
        if index >= len(lines):
            raise lines.error(start, "background: expected frequencies for A, C, G and T after this line")
        tokens = lines.text(index).split()
        if not tokens:
            index += 1
            continue
        if len(tokens) % 2:
            raise lines.error(
                index, "background: expected letter/frequency pairs such as 'A 0.25 C 0.25 ...'"
            )
        for letter, token in zip(tokens[::2], tokens[1::2], strict=True):
            value = _parse_float(token)
            if letter not in "ACGT" or len(letter) != 1 or letter in values:
                raise lines.error(index, f"background: expected each of A, C, G, T once, got {letter!r}")
            if value is None or value < 0:
                raise lines.error(index, f"background: expected a frequency >= 0 for {letter}, got {token!r}")
            values[letter] = value
        index += 1
    total = sum(values.values())
    if abs(total - 1.0) > ROW_SUM_TOLERANCE:
        raise lines.error(index - 1, f"background: frequencies sum to {total:.6g}; expected 1")
    return index


def _skip_log_odds(lines: _Lines, index: int) -> int:
    """Skip a 'log-odds matrix:' block (Tomtom ignores it); return the next index."""
    fields = dict(_KEY_VALUE.findall(lines.text(index)))
    index += 1
    rows = int(fields["w"]) if fields.get("w", "").isdigit() else None
    while index < len(lines) and (rows is None or rows > 0) and _looks_like_row(lines.text(index)):
        index += 1
        rows = None if rows is None else rows - 1
    return index


def read_meme(path_or_stream: str | os.PathLike | TextIO) -> list[Motif]:
    """Read motifs from a MEME motif file (format version 4 or later).

    The accepted layout is MEME's "minimal motif format": a ``MEME version 4``
    line, then optionally ``ALPHABET= ACGT``, ``strands: + -`` and a
    ``Background letter frequencies`` line followed by the four frequencies;
    then one block per motif::

        MOTIF MA0004.1 Arnt
        letter-probability matrix: alength= 4 w= 6 nsites= 20 E= 0
         0.200000  0.800000  0.000000  0.000000
         ...
        URL http://jaspar.genereg.net/matrix/MA0004.1

    ``alength=``, ``w=``, ``nsites=`` and ``E=`` are optional (``w`` is inferred
    from the rows when absent), as are ``URL`` lines and ``log-odds matrix:``
    blocks (skipped). Other text outside motif blocks is ignored, as MEME does.
    The alternate name is the token after the id; the rest of a MOTIF line is
    ignored. Rows are renormalised to sum to 1 when they miss it by at most
    ``ROW_SUM_TOLERANCE`` (0.01), because MEME files are rounded to a few decimals.

    Parameters
    ----------
    path_or_stream : str, os.PathLike or text stream
        A file path, or an open text stream such as ``io.StringIO``.

    Returns
    -------
    list of Motif
        In file order; ``name`` is the alternate name, ``""`` when absent.

    Raises
    ------
    InvalidInputError
        Malformed input; the message names the line (1-based) and the reason: no
        ``MEME version`` line, an alphabet other than ACGT, a MOTIF without a
        ``letter-probability matrix:`` line, fewer or more rows than ``w=``, a row
        without exactly 4 numbers, a non-numeric or negative value, a row summing
        to 1 by more than 0.01 off, a repeated motif id, or no MOTIF at all.
    NotFoundError
        If a path is given and no file exists there.
    """
    lines = _Lines(*_open_text(path_or_stream))
    n_lines = len(lines)
    index = 0
    while index < n_lines and not lines.text(index):
        index += 1
    if index == n_lines:
        raise lines.error(max(n_lines - 1, 0), "empty input; expected 'MEME version 4' and MOTIF blocks")
    version = _MEME_VERSION.match(lines.text(index))
    if version is None:
        raise lines.error(index, f"expected 'MEME version 4' as the first line, got {lines.text(index)!r}")
    if int(version.group(1)) < 4:
        raise lines.error(index, f"expected MEME format version 4 or later, got {version.group(1)}")
    index += 1

    # Header: everything up to the first MOTIF line.
    while index < n_lines and not lines.text(index).startswith("MOTIF"):
        text = lines.text(index)
        if text.startswith("ALPHABET"):
            alphabet = text[len("ALPHABET") :].lstrip("= \t")
            if alphabet != "ACGT":
                raise lines.error(index, f"alphabet: expected 'ALPHABET= ACGT', got {text!r}")
        elif text.startswith("Background letter frequencies"):
            index = _parse_background(lines, index)
            continue
        elif text.startswith("strands:"):
            strands = text[len("strands:") :].split()
            if not strands or not set(strands) <= {"+", "-"}:
                raise lines.error(index, f"strands: expected '+' and/or '-', got {text!r}")
        elif _looks_like_row(text):
            raise lines.error(index, "matrix row before any MOTIF line")
        index += 1
    if index == n_lines:
        raise lines.error(n_lines - 1, "no MOTIF found; expected at least one 'MOTIF <id> [<name>]' block")

    motifs: list[Motif] = []
    first_line: dict[str, int] = {}
    while index < n_lines:
        text = lines.text(index)
        if text.startswith("MOTIF"):
            motif_line = index
            motif, index = _read_meme_motif(lines, index)
            if motif.motif_id in first_line:
                raise lines.error(
                    motif_line,
                    f"duplicate MOTIF id {motif.motif_id!r} (first at line {first_line[motif.motif_id] + 1})",
                )
            first_line[motif.motif_id] = motif_line
            motifs.append(motif)
            continue
        if _looks_like_row(text):
            raise lines.error(index, "matrix row outside a motif (more rows than w=?)")
        index += 1
    return motifs


def _read_meme_motif(lines: _Lines, index: int) -> tuple[Motif, int]:
    """Parse one MOTIF block starting at ``index``; return the motif and the next index."""
    tokens = lines.text(index).split()
    if tokens[0] != "MOTIF" or len(tokens) < 2:
        raise lines.error(index, f"expected 'MOTIF <id> [<name>]', got {lines.text(index)!r}")
    motif_id, name = tokens[1], (tokens[2] if len(tokens) > 2 else "")
    motif_index = index
    index += 1
    while True:
        if index >= len(lines):
            raise lines.error(motif_index, f"MOTIF {motif_id}: no 'letter-probability matrix:' line follows")
        text = lines.text(index)
        if not text or text.startswith("URL"):
            index += 1
        elif text.startswith("log-odds matrix"):
            index = _skip_log_odds(lines, index)
        elif text.startswith("letter-probability matrix"):
            break
        else:
            raise lines.error(
                index,
                f"MOTIF {motif_id} (line {motif_index + 1}): "
                f"expected 'letter-probability matrix:', got {text!r}",
            )

    header = index
    fields = dict(_KEY_VALUE.findall(text.partition(":")[2]))
    alength = fields.get("alength", "4")
    if alength != "4":
        raise lines.error(header, f"alength: expected 4 (A C G T), got {alength}")
    width = None
    if "w" in fields:
        if not fields["w"].isdigit() or int(fields["w"]) < 1:
            raise lines.error(header, f"w: expected a positive integer, got {fields['w']!r}")
        width = int(fields["w"])
    for key in ("nsites", "E"):
        if key in fields and _parse_float(fields[key]) is None:
            raise lines.error(header, f"{key}: expected a number, got {fields[key]!r}")

    rows: list[list[float]] = []
    index += 1
    while index < len(lines) and (width is None or len(rows) < width):
        text = lines.text(index)
        if width is None and not _looks_like_row(text):
            break
        if not text or text.startswith(("MOTIF", "URL", "letter-probability", "log-odds")):
            break
        rows.append(_probability_row(lines, index, 4))
        index += 1
    if width is not None and len(rows) < width:
        raise lines.error(header, f"MOTIF {motif_id}: w= {width} but {len(rows)} rows follow")
    if not rows:
        raise lines.error(header, f"MOTIF {motif_id}: no probability rows follow")
    # A row right after the w-th one means w= undercounts the matrix.
    probe = index
    while probe < len(lines) and not lines.text(probe):
        probe += 1
    if width is not None and probe < len(lines) and _looks_like_row(lines.text(probe)):
        raise lines.error(probe, f"MOTIF {motif_id}: more rows than w= {width} (line {header + 1})")
    # A given nsites parses (checked above), so the "or" never applies; it narrows the type.
    nsites = (_parse_float(fields["nsites"]) or 0.0) if "nsites" in fields else 0.0
    if nsites < 0:
        raise lines.error(header, f"nsites: expected a number >= 0, got {fields['nsites']!r}")
    return Motif(motif_id=motif_id, name=name, pwm=np.array(rows), nsites=nsites), index


def write_meme(
    motifs: Iterable[Motif],
    path_or_stream: str | os.PathLike | TextIO,
    background: Sequence[float] | np.ndarray | None = None,
) -> None:
    """Write motifs as a MEME motif file (minimal format, version 4).

    The file has ``ALPHABET= ACGT``, ``strands: + -``, the background line, then
    one ``MOTIF <id> [<name>]`` block per motif with
    ``letter-probability matrix: alength= 4 w= <W>`` and W rows of 8-decimal
    probabilities, so :func:`read_meme` gives the matrices back within 1e-7.
    Whitespace inside a name becomes ``_`` (MEME reads one token).

    Parameters
    ----------
    motifs : iterable of Motif
        At least one; ids must be unique and free of whitespace.
    path_or_stream : str, os.PathLike or text stream
        Destination file (overwritten) or open text stream.
    background : array-like, shape (4,), optional
        Background letter frequencies A, C, G, T summing to 1 (within 1e-6);
        default uniform.

    Raises
    ------
    InvalidInputError
        No motif, a repeated id, an id that is empty or contains whitespace, or a
        bad background.
    """
    motifs = list(motifs)
    if not motifs:
        raise InvalidInputError("motifs: expected at least one motif, got none", field="motifs")
    seen: set[str] = set()
    for motif in motifs:
        if not isinstance(motif, Motif):
            raise InvalidInputError(
                f"motifs: expected Motif objects, got {type(motif).__name__}", field="motifs"
            )
        if not motif.motif_id or any(c.isspace() for c in motif.motif_id):
            raise InvalidInputError(
                f"motif_id: expected a non-empty id without whitespace, got {motif.motif_id!r}",
                field="motif_id",
            )
        if motif.motif_id in seen:
            raise InvalidInputError(f"motifs: duplicate motif id {motif.motif_id!r}", field="motifs")
        seen.add(motif.motif_id)
    freqs = np.full(4, 0.25) if background is None else np.asarray(background, dtype=np.float64)
    if (
        freqs.shape != (4,)
        or not np.all(np.isfinite(freqs))
        or np.any(freqs < 0)
        or abs(freqs.sum() - 1) > 1e-6
    ):
        raise InvalidInputError(
            "background: expected 4 frequencies (A, C, G, T) >= 0 summing to 1, "
            f"got {np.asarray(background).tolist()!r}",
            field="background",
        )

    out = io.StringIO()
    out.write("MEME version 4\n\nALPHABET= ACGT\n\nstrands: + -\n\n")
    out.write("Background letter frequencies\n")
    out.write(" ".join(f"{base} {value:.6f}" for base, value in zip("ACGT", freqs, strict=True)) + "\n\n")
    for motif in motifs:
        name = re.sub(r"\s+", "_", motif.name.strip())
        out.write(f"MOTIF {motif.motif_id} {name}\n" if name else f"MOTIF {motif.motif_id}\n")
        nsites = f" nsites= {motif.nsites:g}" if motif.nsites > 0 else ""
        out.write(f"letter-probability matrix: alength= 4 w= {motif.width}{nsites}\n")
        for row in motif.pwm:
            out.write(" ".join(f"{value:.8f}" for value in row) + "\n")
        out.write("\n")
    if isinstance(path_or_stream, (str, os.PathLike)):
        Path(path_or_stream).write_text(out.getvalue(), encoding="utf-8")
    else:
        path_or_stream.write(out.getvalue())


def read_jaspar(path_or_stream: str | os.PathLike | TextIO) -> list[Motif]:
    """Read count matrices in the JASPAR format and turn them into probabilities.

    Each motif is a header ``>MA0001.1 AGL3`` (id, then the name) and four count
    rows::

        >MA0001.1 AGL3
        A  [ 0  3 79 40 66 48 65 11 65  0 ]
        C  [94 75  4  3  1  2  5  2  3  3 ]
        G  [ 1  0  3  4  1  0  5  3 28 88 ]
        T  [ 2 19 11 50 29 47 22 81  1  6 ]

    The base letters and brackets are optional; rows without letters are taken
    as A, C, G, T in that order, rows with letters may come in any order. Each
    position's counts are divided by that position's total (no pseudocount), as
    :func:`jaspar_motifs` does.

    Parameters
    ----------
    path_or_stream : str, os.PathLike or text stream
        A file path, or an open text stream.

    Returns
    -------
    list of Motif
        In file order.

    Raises
    ------
    InvalidInputError
        Malformed input, with the line number: text before the first header, a
        header without id, not four count rows, rows of unequal length, a
        non-numeric or negative count, a position whose counts are all zero, a
        repeated id, or no motif at all.
    NotFoundError
        If a path is given and no file exists there.
    """
    lines = _Lines(*_open_text(path_or_stream))
    motifs: list[Motif] = []
    seen: dict[str, int] = {}
    index = 0
    while index < len(lines):
        text = lines.text(index)
        if not text:
            index += 1
            continue
        if not text.startswith(">"):
            raise lines.error(index, f"expected a '>ID name' header, got {text!r}")
        header_tokens = text[1:].split()
        if not header_tokens:
            raise lines.error(index, "header: expected '>ID name', got no id")
        motif_id, name = header_tokens[0], " ".join(header_tokens[1:])
        if motif_id in seen:
            raise lines.error(index, f"duplicate motif id {motif_id!r} (first at line {seen[motif_id] + 1})")
        seen[motif_id] = index
        header = index
        rows: dict[str, list[float]] = {}
        row_lines: dict[str, int] = {}
        index += 1
        while len(rows) < 4:
            while index < len(lines) and not lines.text(index):
                index += 1
            if index >= len(lines) or lines.text(index).startswith(">"):
                raise lines.error(header, f"{motif_id}: expected 4 count rows (A, C, G, T), got {len(rows)}")
            base, counts = _jaspar_row(lines, index, default_base="ACGT"[len(rows)])
            if base in rows:
                raise lines.error(index, f"{motif_id}: base {base} given twice")
            rows[base], row_lines[base] = counts, index
            index += 1
        widths = {base: len(counts) for base, counts in rows.items()}
        if len(set(widths.values())) != 1:
            base = next(b for b in "ACGT" if widths[b] != widths["A"])
            raise lines.error(
                row_lines[base], f"{motif_id}: row {base} has {widths[base]} counts, row A has {widths['A']}"
            )
        matrix = np.array([rows[base] for base in "ACGT"], dtype=np.float64).T  # (W, 4) counts
        totals = matrix.sum(axis=1)
        if np.any(totals <= 0):
            position = int(np.flatnonzero(totals <= 0)[0])
            raise lines.error(header, f"{motif_id}: position {position + 1} has no counts")
        pwm = matrix / totals[:, None]
        motifs.append(Motif(motif_id=motif_id, name=name, pwm=pwm, nsites=float(totals[0])))
    if not motifs:
        raise lines.error(max(len(lines) - 1, 0), "no motif found; expected '>ID name' headers")
    return motifs


def _jaspar_row(lines: _Lines, index: int, default_base: str) -> tuple[str, list[float]]:
    text = lines.text(index)
    base = default_base
    if text[0].upper() in "ACGT" and (len(text) == 1 or not text[1].isdigit()):
        base, text = text[0].upper(), text[1:]
    tokens = text.replace("[", " ").replace("]", " ").split()
    if not tokens:
        raise lines.error(index, f"row {base}: expected counts, got none")
    counts = []
    for token in tokens:
        value = _parse_float(token)
        if value is None:
            raise lines.error(index, f"row {base}: expected a number, got {token!r}")
        if value < 0:
            raise lines.error(index, f"row {base}: expected counts >= 0, got {token}")
        counts.append(value)
    return base, counts


# ---------------------------------------------------------------------------
# Motif databases
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MotifDatabase:
    """An immutable, named collection of motifs with lookup by id.

    Equality and hashing are by identity: :func:`motif_database` returns one
    cached object per source, which lets tools such as
    :func:`motiflens.tomtom.tomtom` cache per-database work.

    Attributes
    ----------
    name : str
        E.g. ``"JASPAR2016 CORE vertebrates"`` or a file name.
    motifs : tuple of Motif
        In database order; ids are unique.

    Raises
    ------
    InvalidInputError
        If an element is not a Motif or two motifs share an id.
    """

    name: str
    motifs: tuple[Motif, ...]
    _index: Mapping[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        motifs = tuple(self.motifs)
        index: dict[str, int] = {}
        for position, motif in enumerate(motifs):
            if not isinstance(motif, Motif):
                raise InvalidInputError(
                    f"motifs[{position}]: expected a Motif, got {type(motif).__name__}",
                    field=f"motifs[{position}]",
                )
            if motif.motif_id in index:
                raise InvalidInputError(
                    f"motifs[{position}]: duplicate motif id {motif.motif_id!r}", field=f"motifs[{position}]"
                )
            index[motif.motif_id] = position
        # Frozen dataclass: these are the construction-time writes.
        object.__setattr__(self, "motifs", motifs)
        object.__setattr__(self, "_index", MappingProxyType(index))

    def __len__(self) -> int:
        return len(self.motifs)

    def __iter__(self) -> Iterator[Motif]:
        return iter(self.motifs)

    def __contains__(self, motif_id: object) -> bool:
        return motif_id in self._index

    def __getitem__(self, motif_id: str) -> Motif:
        """The motif with id ``motif_id``; raises NotFoundError if there is none."""
        try:
            return self.motifs[self._index[motif_id]]
        except (KeyError, TypeError):
            raise NotFoundError(f"motif_id: no motif {motif_id!r} in {self.name}") from None

    @property
    def ids(self) -> tuple[str, ...]:
        """The motif ids in database order."""
        return tuple(motif.motif_id for motif in self.motifs)


def motif_database(
    name_or_path: str | os.PathLike = DEFAULT_RELEASE,
    *,
    collection: str = "CORE",
    tax_group: str | None = "vertebrates",
) -> MotifDatabase:
    """A cached motif database: a JASPAR release, or the motifs of a file.

    Parameters
    ----------
    name_or_path : str or os.PathLike, default "JASPAR2016"
        A JASPAR release name from :func:`jaspar_releases` (``"JASPAR2016"`` …
        ``"JASPAR2026"``), or the path of a motif file: MEME format, or JASPAR
        format when its first non-blank character is ``>``. A release name wins
        over a file of the same name in the working directory.
    collection : str, default "CORE"
        JASPAR collection; ignored for files.
    tax_group : str or None, default "vertebrates"
        JASPAR taxonomic group, None for all groups; ignored for files.

    Returns
    -------
    MotifDatabase
        The same object for repeated calls with the same arguments (files are
        re-read when their size or modification time changes). JASPAR2016 CORE
        vertebrates has 519 motifs, named ``"JASPAR2016 CORE vertebrates"``; a
        file database is named after the file.

    Raises
    ------
    InvalidInputError
        A name that looks like a JASPAR release but is not one (the message lists
        the known ones), or a malformed file (the message gives the line).
    NotFoundError
        Neither a release nor an existing file, or no JASPAR motif in that
        collection and group.
    """
    if isinstance(name_or_path, str) and name_or_path in jaspar_releases():
        return _jaspar_database(name_or_path, collection, tax_group)
    path = Path(name_or_path)
    if path.is_file():
        stat = path.stat()
        return _file_database(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if re.fullmatch(r"jaspar\d*", str(name_or_path), flags=re.IGNORECASE):
        _check_release(str(name_or_path))
    raise NotFoundError(
        f"name_or_path: {str(name_or_path)!r} is neither a motif file nor a JASPAR release "
        f"(known: {', '.join(jaspar_releases())})"
    )


@functools.lru_cache(maxsize=16)
def _jaspar_database(release: str, collection: str, tax_group: str | None) -> MotifDatabase:
    name = f"{release} {collection} {tax_group or 'all'}"
    return MotifDatabase(name, jaspar_motifs(release, collection, tax_group))


@functools.lru_cache(maxsize=16)
def _file_database(path: str, mtime_ns: int, size: int) -> MotifDatabase:
    # mtime and size are part of the cache key only, so an edited file is re-read.
    text = Path(path).read_text(encoding="utf-8")
    reader = read_jaspar if text.lstrip().startswith(">") else read_meme
    return MotifDatabase(Path(path).name, tuple(reader(path)))
