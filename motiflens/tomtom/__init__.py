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

Where things live
-----------------
This package holds the comparison itself (:func:`tomtom_table`, :func:`tomtom`,
:data:`QUERY_BLOCK`, :data:`MIN_TARGETS`); its modules hold the parts:

- :mod:`~motiflens.tomtom.scoring`: distances (:data:`DISTANCES`,
  :data:`DEFAULT_DISTANCE`), MEME's pseudocount (:func:`with_pseudocount`) and the
  columns handed to memelite, with the Pearson embedding.
- :mod:`~motiflens.tomtom.results`: :class:`TomtomTable`, :class:`TomtomHit`,
  :func:`best_hits`.
- :mod:`~motiflens.tomtom.tsv`: MEME's ``tomtom.tsv`` (:func:`format_tomtom_tsv`,
  :func:`write_tomtom_tsv`).
- :mod:`~motiflens.tomtom.cli`: :func:`main`, behind ``python -m motiflens.tomtom``.
- :mod:`~motiflens.tomtom.warm`: the warm start (:func:`warm_up` loads or compiles
  memelite's numba kernels before a first real call; :func:`kernel_stats`,
  :func:`seed_cache`); ``python -m motiflens.tomtom.bake`` fills numba's cache.

Import from ``motiflens.tomtom``; the modules are its parts.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable

import numpy as np

from motiflens.errors import CancelledError, InvalidInputError
from motiflens.motifs import Motif, MotifDatabase
from motiflens.tomtom.cli import main
from motiflens.tomtom.results import TomtomHit, TomtomTable, _check_thresholds, best_hits
from motiflens.tomtom.scoring import (
    BACKGROUND,
    DEFAULT_DISTANCE,
    DEFAULT_NSITES,
    DISTANCES,
    MOTIF_PSEUDOCOUNT,
    _columns,
    _target_columns,
    check_distance,
    with_pseudocount,
)
from motiflens.tomtom.tsv import TSV_COLUMNS, format_tomtom_tsv, write_tomtom_tsv
from motiflens.tomtom.warm import KernelStats, kernel_stats, seed_cache, warm_up

__all__ = [
    "BACKGROUND",
    "DEFAULT_DISTANCE",
    "DEFAULT_NSITES",
    "DISTANCES",
    "MIN_TARGETS",
    "MOTIF_PSEUDOCOUNT",
    "QUERY_BLOCK",
    "TSV_COLUMNS",
    "KernelStats",
    "TomtomHit",
    "TomtomTable",
    "best_hits",
    "check_distance",
    "format_tomtom_tsv",
    "kernel_stats",
    "main",
    "seed_cache",
    "tomtom",
    "tomtom_table",
    "warm_up",
    "with_pseudocount",
    "write_tomtom_tsv",
]

logger = logging.getLogger(__name__)

# MEME warns below this many target motifs: the null of each query column is
# built from the target columns, so a small database gives unstable p-values.
MIN_TARGETS = 50
#: Queries compared per memelite call; the caller's ``should_stop`` is asked between blocks.
QUERY_BLOCK = 64
# memelite's bins for each query column's median (the docstring's "Known differences").
_MEDIAN_BINS = 10_000


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
