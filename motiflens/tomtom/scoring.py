"""Column scores as memelite takes them: MEME's distances, ``-motif-pseudo`` and the Pearson embedding.

``ed`` columns are the probabilities with MEME's pseudocount (:func:`with_pseudocount`);
``pearson`` columns are embedded so that memelite's negative Euclidean distance is the
Pearson correlation plus a constant (the derivation is in the :mod:`motiflens.tomtom`
docstring, "How memelite is used"). Target columns are cached per
:class:`~motiflens.motifs.MotifDatabase` and distance.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from motiflens.errors import InvalidInputError
from motiflens.motifs import Motif, MotifDatabase

#: MEME's ``-dist`` values implemented: Euclidean distance and Pearson correlation.
DISTANCES = ("ed", "pearson")
#: MEME 5's default (``tomtom`` without ``-dist``), as the paper ran it.
DEFAULT_DISTANCE = "ed"
#: MEME's ``-motif-pseudo`` default, added to query and target motifs.
MOTIF_PSEUDOCOUNT = 0.1
#: Sites MEME assumes for a motif without ``nsites=`` (``DEFAULT_SITE_COUNT``).
DEFAULT_NSITES = 20
#: Background of the pseudocount: uniform (MEME uses the query file's, symmetrised).
BACKGROUND = np.full(4, 0.25)

# Embedding constant K (see the motiflens.tomtom docstring); memelite's running minima start
# at +-9999999.9, so scores of about -K must stay well inside that.
_K = 1e4
_A = math.sqrt(_K * _K - 2 * _K) / 2
_E = np.full(4, 0.5)
# Four equal values: placed at distance K from every unit-vector column (r = 0).
_FLAT_QUERY = math.sqrt(_K * _K - _K) - _A
_FLAT_TARGET = _A - math.sqrt(_K * _K - _K)


def _embed(pwm: np.ndarray, *, query: bool) -> np.ndarray:
    """Columns placed so that memelite's -Euclidean distance is Pearson r minus K.

    Parameters
    ----------
    pwm : np.ndarray, shape (W, 4)
        Probabilities, rows summing to 1.
    query : bool
        Query columns get ``+a e``, target columns ``-a e``.

    Returns
    -------
    np.ndarray, shape (4, W), float64, C-contiguous
        memelite's layout (letters first).
    """
    centred = pwm - 0.25
    norms = np.sqrt((centred**2).sum(axis=1))
    # Below this the column is uniform up to round-off; MEME's Pearson is 0 there.
    flat = norms < 1e-9
    units = np.zeros_like(centred)
    units[~flat] = centred[~flat] / norms[~flat, None]
    sign = 1.0 if query else -1.0
    columns = math.sqrt(_K) * units + sign * _A * _E
    columns[flat] = (_FLAT_QUERY if query else _FLAT_TARGET) * _E
    return np.ascontiguousarray(columns.T)


def with_pseudocount(motif: Motif, pseudocount: float = MOTIF_PSEUDOCOUNT) -> np.ndarray:
    """The motif's probabilities as MEME Tomtom scores them: ``-motif-pseudo`` added.

    MEME (``apply_pseudocount_to_motif``) turns each probability ``p`` back into a
    count with ``n`` sites and adds ``pseudocount`` times the background:
    ``(p n + pseudocount / 4) / (n + pseudocount)`` under the uniform background,
    with ``n = int(nsites)``, or 20 when the motif's nsites is unknown (0).

    Returns
    -------
    np.ndarray, shape (W, 4), float64
    """
    sites = int(motif.nsites) if motif.nsites > 0 else DEFAULT_NSITES
    return (motif.pwm * sites + pseudocount * BACKGROUND) / (sites + pseudocount)


def _columns(motif: Motif, distance: str, *, query: bool) -> np.ndarray:
    """A motif's columns as memelite takes them for ``distance``.

    Parameters
    ----------
    motif : Motif
    distance : {"ed", "pearson"}
    query : bool
        Which side of the comparison (matters for the Pearson embedding only).

    Returns
    -------
    np.ndarray, shape (4, W), float64, C-contiguous
        ``"ed"``: the probabilities with MEME's pseudocount (memelite's native score
        is MEME's negative Euclidean distance); ``"pearson"``: :func:`_embed` (the
        pseudocount is an affine change of each column, which Pearson ignores).
    """
    if distance == "pearson":
        return _embed(motif.pwm, query=query)
    return np.ascontiguousarray(with_pseudocount(motif).T)


@functools.lru_cache(maxsize=8)
def _target_columns(database: MotifDatabase, distance: str) -> tuple[np.ndarray, ...]:
    """Targets as memelite columns, forward strands then reverse complements (2N arrays)."""
    strands = [*database, *(motif.reverse_complement() for motif in database)]
    return tuple(_columns(motif, distance, query=False) for motif in strands)


def check_distance(distance: str) -> str:
    """Return ``distance`` if it is one of :data:`DISTANCES`, else raise InvalidInputError."""
    if distance not in DISTANCES:
        raise InvalidInputError(
            f"distance: expected one of {', '.join(DISTANCES)} (MEME's -dist; default ed), got {distance!r}",
            field="distance",
        )
    return distance
