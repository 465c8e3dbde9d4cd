"""MEME Tomtom's ``tomtom.tsv``: :data:`TSV_COLUMNS`, :func:`format_tomtom_tsv`, :func:`write_tomtom_tsv`."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from importlib import metadata
from typing import TextIO

import numpy as np

from motiflens.tomtom.results import TomtomHit
from motiflens.tomtom.scoring import DEFAULT_DISTANCE, check_distance

TSV_COLUMNS = (
    "Query_ID",
    "Target_ID",
    "Optimal_offset",
    "p-value",
    "E-value",
    "q-value",
    "Overlap",
    "Query_consensus",
    "Target_consensus",
    "Orientation",
)


def _number(value: float) -> str:
    # MEME stores p, E and q as C floats and prints them with %g.
    return f"{float(np.float32(value)):g}"


def format_tomtom_tsv(
    hits: Iterable[TomtomHit], *, command_line: str | None = None, distance: str = DEFAULT_DISTANCE
) -> str:
    """MEME Tomtom's ``tomtom.tsv`` text for these hits.

    A header with MEME 5.x's ten columns (:data:`TSV_COLUMNS`), one row per hit,
    then a blank line and ``#`` comment lines (program and command line) at the
    end, as MEME writes them. Numbers are printed like MEME's: p, E and q with
    ``%g`` after rounding to single precision, e.g. ``1.92502e-12``.

    Parameters
    ----------
    hits : iterable of TomtomHit
    command_line : str, optional
        Recorded in the last comment line; default names the Python API.
    distance : {"ed", "pearson"}, default "ed"
        The distance the hits were computed with (named in the trailer).

    Returns
    -------
    str
    """
    out = io.StringIO()
    out.write("\t".join(TSV_COLUMNS) + "\n")
    for hit in hits:
        fields = (
            hit.query_id,
            hit.target_id,
            str(hit.offset),
            _number(hit.p_value),
            _number(hit.e_value),
            _number(hit.q_value),
            str(hit.overlap),
            hit.query_consensus,
            hit.target_consensus,
            hit.orientation,
        )
        out.write("\t".join(fields) + "\n")
    from motiflens import __version__

    try:
        memelite_version = metadata.version("memelite")
    except metadata.PackageNotFoundError:
        memelite_version = "unknown"
    out.write(
        f"\n# Tomtom (Motif Comparison Tool): motiflens {__version__} with memelite {memelite_version} "
        f"(MEME Tomtom 5.5 statistics, -dist {check_distance(distance)} -min-overlap 1, both strands)\n"
    )
    out.write(f"# {command_line or 'motiflens.tomtom.tomtom (Python API)'}\n")
    return out.getvalue()


def write_tomtom_tsv(
    hits: Iterable[TomtomHit],
    path_or_stream: str | os.PathLike | TextIO,
    *,
    command_line: str | None = None,
    distance: str = DEFAULT_DISTANCE,
) -> None:
    """Write :func:`format_tomtom_tsv` to a file (overwritten) or an open text stream."""
    text = format_tomtom_tsv(hits, command_line=command_line, distance=distance)
    if isinstance(path_or_stream, (str, os.PathLike)):
        with open(path_or_stream, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path_or_stream.write(text)
