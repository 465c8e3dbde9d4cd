"""Tomtom motif comparison with MEME Tomtom's statistics, computed by memelite.

What it reproduces
------------------
MEME Tomtom 5.5 run with its defaults and E-value thresholding,
``tomtom -evalue -thresh 0.1 QUERIES TARGETS`` — that is ``-dist ed`` (Euclidean
distance), ``-min-overlap 1``, ``-motif-pseudo 0.1``, both strands, complete
scores — which is how the paper matched first-layer filters to JASPAR
(p-koo/exponential_activations, ``code/*_tomtom.sh``: no ``-dist``). ``distance=
"pearson"`` gives ``-dist pearson`` instead. For each query motif:

1. Pseudocounts (``-dist ed``): every query and target probability ``p`` becomes
   ``(p n + 0.1 / 4) / (n + 0.1)`` with ``n = int(nsites)``, or 20 when the motif
   has no nsites (MEME's ``apply_pseudocount_to_motif``, uniform background); see
   :func:`with_pseudocount`. Under Pearson the pseudocount is an affine change of
   each column, which leaves the scores unchanged, so none is added there.
2. Every query column is scored against every column of every target motif,
   targets taken on both strands (the reverse complements are added to the target
   list, so they are part of the null too). The column score is minus the Euclidean
   distance of the two probability columns (``ed``), or their Pearson correlation
   (``pearson``; a column whose four values are equal scores 0).
3. Each query column's scores are shifted by their median over all target
   columns, so an unaligned column counts 0 and aligning an informative column
   badly costs more than leaving it out. All shifted scores of the query are then
   scaled to integers, 100 bins over their range.
4. The null distribution of the summed score of each span of query columns is
   built by dynamic programming, each column's score drawn from its scores
   against all target columns. For a target of width W there are
   ``query width + W - 1`` alignments (overlap >= 1); the alignment score counts
   unaligned query columns at their median. The p-value of a target on one strand
   is the probability that the best of all alignments on *both* strands, each
   drawn independently from its null, scores at least the observed best.
5. Each strand of each target is one entry (MEME keeps 2N entries). Entries are
   sorted by p-value, then larger overlap, then ``+`` before ``-`` and target id.
   The E-value is ``p * N`` with N the number of target motifs (a motif and its
   reverse complement count once). q-values are Benjamini-Hochberg over the 2N
   entries of the query. A target is reported once, with its better strand.

Offsets and orientation follow MEME: ``orientation`` is ``"+"`` when the query
aligns with the target as stored and ``"-"`` when it aligns with the target's
reverse complement; ``offset`` is the column of the (possibly reverse-complemented)
target that faces the query's first column, so a negative offset means the query
starts left of the target (query column ``-offset`` faces target column 0) and
``overlap`` is the number of aligned columns. ``target_consensus`` is the
consensus of the target in the reported orientation.

How it is checked
-----------------
Against MEME Tomtom 5.5.6's own published outputs (tests/data/meme_tomtom: the
xstreme documentation example, STREME and MEME motifs against JASPAR 2018 CORE
non-redundant, 1,404 targets, ``-dist ed``), every one of MEME's E <= 1 hits (217
and 126) is found and no other, best hits, offsets, overlaps and strands all
agree, and p-values agree with a median ratio of 1.0002 / 1.0004 (5-95 %
0.999-1.002, extremes 0.92 and 1.10); MEME's scored motifs (its tomtom.xml) equal
:func:`with_pseudocount` to 6 digits. With ``-dist pearson``, MEME's documented
example (STRGGTCAN against JASPAR 2018) is reproduced to 5-6 digits.
``bench/tomtom_parity.py`` compares any MEME ``tomtom.tsv`` with ours.

How memelite is used
--------------------
memelite's ``tomtom`` implements steps 2-5 as MEME does (the same median shift,
the same integer scaling with 100 bins, the same dynamic programming for spans and
the same maximum over alignments) and scores columns by their negative Euclidean
distance, MEME's ``-dist ed``: for ``ed`` the pseudocounted columns are passed as
they are. For ``pearson`` this module makes that distance an affine function of the
Pearson correlation. Each column ``c`` is centred and scaled to a unit vector
``u = (c - 1/4) / |c - 1/4|``, which lies in the 3-D subspace orthogonal to
``e = (1, 1, 1, 1) / 2``; query columns become ``sqrt(K) u + a e`` and target
columns ``sqrt(K) v - a e`` with ``4 a^2 = K^2 - 2 K``. Then
``|x - y|^2 = K^2 - 2 K r`` exactly, and the score ``-|x - y| = -K + r + r^2 / (2K)
+ ...`` is the Pearson correlation ``r`` plus a constant, which the median shift
removes, and a term below ``1 / (2K) = 5e-5`` with ``K = 1e4``. A column with four
equal values maps to ``b e``, placed so that its distance to every other column
corresponds to ``r = 0``, as in MEME. Targets are passed with their reverse
complements already added and ``reverse_complement=False``, so that the per-strand
results come back and the two strands are merged here with MEME's tie rules.
Other settings: ``n_score_bins=100`` (MEME's ``BINS``), ``n_median_bins=10000``
(see below), ``n_target_bins=None`` (no merging of similar target columns, which
would perturb the null: with memelite's default of 100 the published ed p-values
above move by up to 42 %). The target columns are cached per
:class:`MotifDatabase` and distance.

Known differences from MEME Tomtom 5.5
--------------------------------------
- Medians: memelite approximates each query column's median by binning (10,000
  bins over the column's score range; the mean of the bin holding the middle).
  MEME sorts and averages the elements at ``floor(n/2) - 1`` and ``ceil(n/2) - 1``.
  The difference can move a scaled score by one bin: it is the whole of the p-value
  spread above. Against a MEME-faithful reference with ``-dist pearson`` on
  filter-like and noisy JASPAR queries, the median relative difference of p-values
  was 6e-5 for p > 1e-3, 8e-4 for 1e-5 to 1e-3 and 2e-3 for 1e-8 to 1e-5 (99th
  percentiles 1.5%, 7% and 19%; worst case a factor 2.4), and the E < 0.1 calls
  agreed for 99.9% of hits.
- Background: the pseudocount uses the uniform background. MEME uses the query
  file's background, averaged with its complement; for a non-uniform one (MEME's
  own ``meme.txt``, A 0.222 C 0.278) the published hits above still all agree, with
  p-values within the same spread.
- Pearson column scores: Pearson plus at most ``5e-5`` (see above) against MEME's
  bin width of about 1/30; a pair of columns that both have four equal values
  scores about 0 (MEME: exactly 0).
- ``-min-overlap``: always 1. MEME's ``-min-overlap k`` only restricts which
  alignments are reported (the null is the same), so hits whose best alignment
  overlaps by at least k columns are unaffected.
- q-values: MEME multiplies Benjamini-Hochberg by an estimate of the null
  fraction pi0 (Storey 2002, bootstrap over lambda, when there are more than 100
  entries); here pi0 = 1, so q-values are conservative by that factor (0.4-2.4 %
  on the JASPAR runs above). E-value thresholding (``-evalue``, the paper's) is
  unaffected.
- Ties between alignments of equal integer score on one strand: MEME keeps the
  larger overlap, then the leftmost; memelite's tie rule differs, so offset and
  overlap can differ on exact ties (the p-value cannot).
- Rounding: p-values are rounded to single precision as MEME stores them (so
  ties sort alike; values below 1.4e-45 become 0), as a match, not a difference.
- Consensus letters: ties go to the first of A, C, G, T
  (:attr:`motiflens.motifs.Motif.consensus`). MEME compares a double with a
  float copy of the running maximum, and its columns carry the pseudocount, so
  on an exact tie it sometimes prints a later letter (its pearson example prints
  ``GGAAGGTCACGTGG`` for MA0552.1, whose first column has A = G).
- Inputs: MEME's minimal motif format only (:func:`motiflens.motifs.read_meme`),
  no meme.txt/XML; memelite's memory grows with the cube of the query width.
  MEME warns for fewer than 50 targets; here the warning is logged.
- The TSV trailer names motiflens and memelite instead of the MEME version, and
  has no "format described at" line.
"""

from __future__ import annotations

import argparse
import functools
import io
import logging
import math
import numbers
import os
import shlex
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import TextIO

import numpy as np

from motiflens.errors import CancelledError, InvalidInputError, MotiflensError
from motiflens.motifs import Motif, MotifDatabase, motif_database, read_meme

logger = logging.getLogger(__name__)

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

# MEME warns below this many target motifs: the null of each query column is
# built from the target columns, so a small database gives unstable p-values.
MIN_TARGETS = 50
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
#: Queries compared per memelite call; the caller's ``should_stop`` is asked between blocks.
QUERY_BLOCK = 64

# Embedding constant K (see the module docstring); memelite's running minima start
# at +-9999999.9, so scores of about -K must stay well inside that.
_K = 1e4
_A = math.sqrt(_K * _K - 2 * _K) / 2
_E = np.full(4, 0.5)
# Four equal values: placed at distance K from every unit-vector column (r = 0).
_FLAT_QUERY = math.sqrt(_K * _K - _K) - _A
_FLAT_TARGET = _A - math.sqrt(_K * _K - _K)
_MEDIAN_BINS = 10_000


@dataclass(frozen=True)
class TomtomHit:
    """One query-target match, as one row of MEME Tomtom's TSV.

    Attributes
    ----------
    query_id, target_id, target_name : str
        Ids of the two motifs and the target's name.
    offset : int
        Column of the target (reverse-complemented when ``orientation == "-"``)
        facing the query's first column; negative when the query starts left of it.
    p_value : float
        Probability that a random target of this width matches at least as well
        on either strand.
    e_value : float
        ``p_value`` times the number of target motifs.
    q_value : float
        Benjamini-Hochberg over the query's 2N strand entries.
    overlap : int
        Number of aligned columns.
    query_consensus, target_consensus : str
        Most probable base per column; the target in the reported orientation.
    orientation : str
        ``"+"`` or ``"-"``.
    """

    query_id: str
    target_id: str
    target_name: str
    offset: int
    p_value: float
    e_value: float
    q_value: float
    overlap: int
    query_consensus: str
    target_consensus: str
    orientation: str


@dataclass(frozen=True, eq=False)
class TomtomTable:
    """Every query against every target: the full statistics before thresholding.

    Attributes
    ----------
    queries : tuple of Motif
        Length Q, in input order.
    database : MotifDatabase
        The N targets.
    distance : str
        The column score used, ``"ed"`` or ``"pearson"``.
    strand_p_values : np.ndarray, shape (Q, N, 2), float64
        MEME's per-entry p-values, ``[..., 0]`` for ``+`` and ``[..., 1]`` for ``-``,
        each already the probability over alignments on both strands.
    p_values, e_values, q_values : np.ndarray, shape (Q, N), float64
        Of the better strand; ``e_values = p_values * N``.
    offsets, overlaps : np.ndarray, shape (Q, N), int64
        Of the better strand's best alignment.
    orientations : np.ndarray, shape (Q, N), '<U1'
        ``"+"`` or ``"-"``.
    """

    queries: tuple[Motif, ...]
    database: MotifDatabase
    distance: str
    strand_p_values: np.ndarray
    p_values: np.ndarray
    e_values: np.ndarray
    q_values: np.ndarray
    offsets: np.ndarray
    overlaps: np.ndarray
    orientations: np.ndarray

    def hits(
        self, *, evalue_threshold: float = 0.1, qvalue_threshold: float | None = None
    ) -> list[TomtomHit]:
        """The significant matches, grouped by query in input order, best first.

        See :func:`tomtom` for the parameters and the order.
        """
        _check_thresholds(evalue_threshold, qvalue_threshold)
        statistic, limit = (
            (self.e_values, evalue_threshold)
            if qvalue_threshold is None
            else (self.q_values, qvalue_threshold)
        )
        targets = self.database.motifs
        hits: list[TomtomHit] = []
        for row, query in enumerate(self.queries):
            passing = np.flatnonzero(statistic[row] <= limit)
            # MEME's order: p-value, larger overlap, then the strand-prefixed id.
            order = sorted(
                passing,
                key=lambda j: (
                    self.p_values[row, j],
                    -self.overlaps[row, j],
                    self.orientations[row, j] + targets[j].motif_id,
                ),
            )
            query_consensus = query.consensus
            for j in order:
                target = targets[j]
                orientation = str(self.orientations[row, j])
                aligned = target if orientation == "+" else target.reverse_complement()
                hits.append(
                    TomtomHit(
                        query_id=query.motif_id,
                        target_id=target.motif_id,
                        target_name=target.name,
                        offset=int(self.offsets[row, j]),
                        p_value=float(self.p_values[row, j]),
                        e_value=float(self.e_values[row, j]),
                        q_value=float(self.q_values[row, j]),
                        overlap=int(self.overlaps[row, j]),
                        query_consensus=query_consensus,
                        target_consensus=aligned.consensus,
                        orientation=orientation,
                    )
                )
        return hits


def _check_thresholds(evalue_threshold: float, qvalue_threshold: float | None) -> None:
    if not isinstance(evalue_threshold, numbers.Real) or not evalue_threshold >= 0:
        raise InvalidInputError(
            f"evalue_threshold: expected a number >= 0, got {evalue_threshold!r}", field="evalue_threshold"
        )
    if qvalue_threshold is not None and (
        not isinstance(qvalue_threshold, numbers.Real) or not 0 <= qvalue_threshold <= 1
    ):
        raise InvalidInputError(
            f"qvalue_threshold: expected a number in [0, 1] or None, got {qvalue_threshold!r}",
            field="qvalue_threshold",
        )


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


def _as_queries(queries: Iterable[Motif]) -> tuple[Motif, ...]:
    if isinstance(queries, Motif):
        raise InvalidInputError("queries: expected a sequence of Motif, got a single Motif", field="queries")
    queries = tuple(queries)
    if not queries:
        raise InvalidInputError("queries: expected at least one motif, got none", field="queries")
    seen: set[str] = set()
    for position, motif in enumerate(queries):
        if not isinstance(motif, Motif):
            raise InvalidInputError(
                f"queries[{position}]: expected a Motif, got {type(motif).__name__}",
                field=f"queries[{position}]",
            )
        if motif.motif_id in seen:
            raise InvalidInputError(
                f"queries[{position}]: duplicate query id {motif.motif_id!r}", field=f"queries[{position}]"
            )
        seen.add(motif.motif_id)
    return queries


def _as_database(database: MotifDatabase | Iterable[Motif]) -> MotifDatabase:
    if not isinstance(database, MotifDatabase):
        if isinstance(database, Motif):
            raise InvalidInputError(
                "database: expected a MotifDatabase or a sequence of Motif, got a Motif", field="database"
            )
        database = MotifDatabase("targets", tuple(database))
    if len(database) == 0:
        raise InvalidInputError("database: expected at least one target motif, got none", field="database")
    return database


def _benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """q-values along the last axis: min over ranks >= i of p_(i) * m / i, capped at 1."""
    m = p_values.shape[-1]
    order = np.argsort(p_values, axis=-1, kind="stable")
    ranked = np.take_along_axis(p_values, order, axis=-1) * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[..., ::-1], axis=-1)[..., ::-1]
    q_values = np.empty_like(p_values)
    np.put_along_axis(q_values, order, np.minimum(ranked, 1.0), axis=-1)
    return q_values


def tomtom_table(
    queries: Iterable[Motif],
    database: MotifDatabase | Iterable[Motif],
    *,
    distance: str = DEFAULT_DISTANCE,
    should_stop: Callable[[], bool] | None = None,
) -> TomtomTable:
    """Compare every query with every target (MEME Tomtom, both strands).

    Parameters
    ----------
    queries : sequence of Motif
        Length Q >= 1, unique ids, any widths.
    database : MotifDatabase or sequence of Motif
        The N >= 1 targets; a MotifDatabase from :func:`motiflens.motifs.motif_database`
        reuses its cached target columns across calls.
    distance : {"ed", "pearson"}, default "ed"
        MEME's ``-dist``: Euclidean distance (MEME 5's default, which the paper used)
        or Pearson correlation of the columns.
    should_stop : callable, optional
        Asked between blocks of :data:`QUERY_BLOCK` queries; True abandons the work
        (the caller went away). Each query's statistics depend on that query and the
        targets only, so blocks give the same numbers as one pass.

    Returns
    -------
    TomtomTable
        Statistics for all Q x N pairs; see the module docstring for their meaning.

    Raises
    ------
    InvalidInputError
        No query or target, a non-Motif element, repeated query ids, or an unknown
        distance.
    CancelledError
        ``should_stop`` returned True.
    """
    check_distance(distance)
    queries = _as_queries(queries)
    database = _as_database(database)
    n_targets = len(database)
    if n_targets < MIN_TARGETS:
        logger.warning(
            "tomtom: %d target motifs; p-values use the target columns as their null and are "
            "unreliable below %d targets",
            n_targets,
            MIN_TARGETS,
        )
    from memelite.tomtom import tomtom as memelite_tomtom

    targets = list(_target_columns(database, distance))
    blocks = []
    for start in range(0, len(queries), QUERY_BLOCK):
        if should_stop is not None and should_stop():
            raise CancelledError(f"tomtom: abandoned after {start} of {len(queries)} queries")
        with warnings.catch_warnings():
            # memelite's own small-database warning; the logged one above replaces it.
            warnings.filterwarnings("ignore", message="tomtom was given", category=UserWarning)
            p_block, _scores, offsets_block, overlaps_block, _strands = memelite_tomtom(
                [_columns(motif, distance, query=True) for motif in queries[start : start + QUERY_BLOCK]],
                targets,
                n_nearest=None,
                n_score_bins=100,
                n_median_bins=_MEDIAN_BINS,
                n_target_bins=None,
                reverse_complement=False,
            )
        blocks.append((p_block, offsets_block, overlaps_block))
    p_raw, offsets_raw, overlaps_raw = (np.concatenate(parts) for parts in zip(*blocks, strict=True))
    n_queries = len(queries)

    def per_strand(values: np.ndarray) -> np.ndarray:
        # memelite's columns are the N forward targets, then the N reverse complements.
        return values.reshape(n_queries, 2, n_targets).transpose(0, 2, 1)

    strand_p = per_strand(p_raw)
    # One strand's p is over its own alignments; MEME's entry is over both strands:
    # 1 - (1 - p)^2, written so that it does not round to 0 for tiny p.
    strand_p = strand_p * (2.0 - strand_p)
    # MEME keeps p-values as C floats; rounding alike makes ties sort alike.
    strand_p = np.clip(strand_p, 0.0, 1.0).astype(np.float32).astype(np.float64)
    strand_offsets = per_strand(offsets_raw).astype(np.int64)
    strand_overlaps = per_strand(overlaps_raw).astype(np.int64)

    # The better strand: lower p, then larger overlap, then '+' (MEME's sort order).
    plus_p, minus_p = strand_p[..., 0], strand_p[..., 1]
    minus = (minus_p < plus_p) | ((minus_p == plus_p) & (strand_overlaps[..., 1] > strand_overlaps[..., 0]))
    pick = minus.astype(np.intp)[..., None]
    q_entries = _benjamini_hochberg(strand_p.reshape(n_queries, 2 * n_targets)).reshape(strand_p.shape)
    p_values = np.take_along_axis(strand_p, pick, axis=-1)[..., 0]
    arrays = {
        "strand_p_values": strand_p,
        "p_values": p_values,
        "e_values": p_values * n_targets,
        "q_values": np.take_along_axis(q_entries, pick, axis=-1)[..., 0],
        "offsets": np.take_along_axis(strand_offsets, pick, axis=-1)[..., 0],
        "overlaps": np.take_along_axis(strand_overlaps, pick, axis=-1)[..., 0],
        "orientations": np.where(minus, "-", "+"),
    }
    for values in arrays.values():
        values.setflags(write=False)
    return TomtomTable(queries=queries, database=database, distance=distance, **arrays)


def tomtom(
    queries: Iterable[Motif],
    database: MotifDatabase | Iterable[Motif],
    *,
    evalue_threshold: float = 0.1,
    qvalue_threshold: float | None = None,
    distance: str = DEFAULT_DISTANCE,
    should_stop: Callable[[], bool] | None = None,
) -> list[TomtomHit]:
    """Significant matches of each query in a motif database, as MEME Tomtom reports them.

    Equivalent to ``tomtom -evalue -thresh 0.1`` (MEME 5's defaults: ``-dist ed``,
    ``-min-overlap 1``, both strands), or with ``-dist pearson`` when
    ``distance="pearson"`` (the module docstring lists the differences).

    Parameters
    ----------
    queries : sequence of Motif
        Length Q >= 1, unique ids.
    database : MotifDatabase or sequence of Motif
        The N targets, e.g. ``motif_database("JASPAR2016")`` (519 motifs).
    evalue_threshold : float, default 0.1
        Keep hits with ``e_value <= evalue_threshold``; used when
        ``qvalue_threshold`` is None.
    qvalue_threshold : float, optional
        When given (in [0, 1]), keep hits with ``q_value <= qvalue_threshold``
        instead, like MEME without ``-evalue``.
    distance : {"ed", "pearson"}, default "ed"
        As for :func:`tomtom_table`.
    should_stop : callable, optional
        As for :func:`tomtom_table`.

    Returns
    -------
    list of TomtomHit
        Queries in input order; within a query, ascending p-value, then larger
        overlap, then ``+`` before ``-`` and target id (MEME's order). At most one
        hit per target.

    Raises
    ------
    InvalidInputError
        Bad thresholds, no query or target, or repeated query ids.
    """
    _check_thresholds(evalue_threshold, qvalue_threshold)
    table = tomtom_table(queries, database, distance=distance, should_stop=should_stop)
    return table.hits(evalue_threshold=evalue_threshold, qvalue_threshold=qvalue_threshold)


def best_hits(hits: Iterable[TomtomHit]) -> dict[str, TomtomHit]:
    """The best hit of each query that has one.

    Parameters
    ----------
    hits : iterable of TomtomHit
        As returned by :func:`tomtom` (best first within a query).

    Returns
    -------
    dict of str to TomtomHit
        Query id to its first hit, in query order; queries without hits are absent.
    """
    best: dict[str, TomtomHit] = {}
    for hit in hits:
        best.setdefault(hit.query_id, hit)
    return best


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


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m motiflens.tomtom QUERIES.meme TARGET``, TSV on stdout.

    Returns
    -------
    int
        0 on success, 2 on bad input (with one ``error: ...`` line on stderr).
    """
    parser = argparse.ArgumentParser(
        prog="python -m motiflens.tomtom",
        description=(
            "Compare query motifs with a motif database the way MEME Tomtom 5.5 does with "
            "'-evalue' and its defaults (-dist ed -min-overlap 1, both strands), and print tomtom.tsv."
        ),
    )
    parser.add_argument("queries", help="MEME motif file of query motifs")
    parser.add_argument(
        "target",
        help="MEME (or JASPAR-format) motif file, or a JASPAR release name such as JASPAR2016",
    )
    parser.add_argument(
        "--thresh", type=float, default=0.1, help="report hits with E-value (or q-value) <= this; default 0.1"
    )
    parser.add_argument(
        "--qvalue", action="store_true", help="apply --thresh to q-values instead of E-values"
    )
    parser.add_argument(
        "--dist",
        choices=DISTANCES,
        default=DEFAULT_DISTANCE,
        help="column distance, as MEME's -dist: ed (Euclidean, MEME 5's default) or pearson; default ed",
    )
    parser.add_argument("--collection", default="CORE", help="JASPAR collection for a release; default CORE")
    parser.add_argument(
        "--taxon", default="vertebrates", help="JASPAR tax group for a release, or 'all'; default vertebrates"
    )
    args = parser.parse_args(argv)
    try:
        queries = read_meme(args.queries)
        tax_group = None if args.taxon == "all" else args.taxon
        database = motif_database(args.target, collection=args.collection, tax_group=tax_group)
        if args.qvalue:
            hits = tomtom(queries, database, qvalue_threshold=args.thresh, distance=args.dist)
        else:
            hits = tomtom(queries, database, evalue_threshold=args.thresh, distance=args.dist)
    except (MotiflensError, OSError) as error:
        message = " ".join(str(error).split())
        sys.stderr.write(f"error: {message}\n")
        return 2
    arguments = list(sys.argv[1:] if argv is None else argv)
    sys.stdout.write(
        format_tomtom_tsv(
            hits,
            command_line=shlex.join(["python", "-m", "motiflens.tomtom", *arguments]),
            distance=args.dist,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
