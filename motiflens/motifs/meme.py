"""MEME motif files: :func:`read_meme` and :func:`write_meme` (version 4, the "minimal" format).

That is the format Tomtom and FIMO read. Paths and open text streams are both accepted;
errors name the line (1-based) and what was expected. MEME 5's alphabet blocks
(``ALPHABET "DNA" DNA-LIKE`` ... ``END ALPHABET``) are read by :mod:`motiflens.motifs._alphabet`.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from motiflens.errors import InvalidInputError
from motiflens.motifs._alphabet import is_alphabet_line, read_alphabet
from motiflens.motifs._text import _Lines, _open_text, _parse_float
from motiflens.motifs.pwm import Motif

# MEME files are usually written with 6 decimals, so a row can miss 1 by a few 1e-6;
# hand-edited or coarsely rounded files miss by more. Rows within this distance of
# 1 are renormalised, rows further off are rejected as malformed.
ROW_SUM_TOLERANCE = 0.01

_MEME_VERSION = re.compile(r"MEME version (\d+)")
_KEY_VALUE = re.compile(r"(\w+)=\s*(\S+)")


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
    line, then optionally the alphabet, ``strands: + -`` and a
    ``Background letter frequencies`` line followed by the four frequencies;
    then one block per motif::

        MOTIF MA0004.1 Arnt
        letter-probability matrix: alength= 4 w= 6 nsites= 20 E= 0
         0.200000  0.800000  0.000000  0.000000
         ...
        URL http://jaspar.genereg.net/matrix/MA0004.1

    ``alength=``, ``w=``, ``nsites=`` and ``E=`` are optional (``w`` is inferred
    from the rows when absent), as are ``URL`` lines and ``log-odds matrix:``
    blocks (skipped). The alphabet is either the line ``ALPHABET= ACGT`` or a
    MEME 5 alphabet block (``ALPHABET "DNA" DNA-LIKE`` ... ``END ALPHABET``, as
    MEME 5's tools write it) that defines DNA: core symbols A, C, G, T with
    complements A ~ T and C ~ G, in any order, with any names, colours,
    comments, ambiguity codes and aliases. MEME orders matrix columns by the
    sorted core symbols, so the columns are A, C, G, T whatever order the block
    lists them in (:mod:`motiflens.motifs._alphabet`). Other text outside motif
    blocks is ignored, as MEME does.
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
        ``MEME version`` line, an alphabet other than DNA (``ALPHABET= ACGU``,
        protein, an RNA, protein or custom alphabet block), a malformed alphabet
        block (no ``END ALPHABET``, a redefined symbol, a complement other than
        A ~ T and C ~ G, a line over the bounds), a MOTIF without a
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
        if is_alphabet_line(text):
            index = read_alphabet(lines, index)
            continue
        if text.startswith("Background letter frequencies"):
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
