"""JASPAR: releases shipped by ``pyjaspar`` (no network), and the JASPAR count-matrix file format.

``pyjaspar`` ships every release from JASPAR2014 to JASPAR2026 as an SQLite file. The
paper matched filters against JASPAR CORE 2016 vertebrates (519 motifs) and built its
synthetic data from JASPAR 2016 motifs, hence :data:`DEFAULT_RELEASE`. Counts become
probabilities by dividing each position by its own total (no pseudocount), both for
:func:`jaspar_motifs` / :func:`jaspar_motif` and for files read by :func:`read_jaspar`.
"""

from __future__ import annotations

import functools
import os
import warnings
from typing import TextIO

import numpy as np

from motiflens.errors import InvalidInputError, NotFoundError
from motiflens.motifs._text import _Lines, _open_text, _parse_float
from motiflens.motifs.pwm import Motif

DEFAULT_RELEASE = "JASPAR2016"


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
