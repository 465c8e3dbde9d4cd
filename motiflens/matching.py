"""Match statistics of first-layer filters against a motif database (no TensorFlow needed).

Given each filter's significant Tomtom hits, how many filters match the ground
truth and how many match any database motif — the paper's "match fraction" and
"match any" figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from motiflens.errors import InvalidInputError

#: Task 1 ground truth: TF -> JASPAR ids counted as a match (PAPER-NOTES.md, the authors' sets).
TASK1_GROUND_TRUTH: Mapping[str, frozenset[str]] = {
    "Arid3a": frozenset({"MA0151.1", "MA0601.1", "PB0001.1"}),
    "CEBPB": frozenset({"MA0466.1", "MA0466.2"}),
    "FOSL1": frozenset({"MA0477.1"}),
    "Gabpa": frozenset({"MA0062.1", "MA0062.2"}),
    "MAFK": frozenset({"MA0496.1", "MA0496.2"}),
    "MAX": frozenset({"MA0058.1", "MA0058.2", "MA0058.3"}),
    "MEF2A": frozenset({"MA0052.1", "MA0052.2", "MA0052.3"}),
    "NFYB": frozenset({"MA0502.1", "MA0060.1", "MA0060.2"}),
    "SP1": frozenset({"MA0079.1", "MA0079.2", "MA0079.3"}),
    "SRF": frozenset({"MA0083.1", "MA0083.2", "MA0083.3"}),
    "STAT1": frozenset({"MA0137.1", "MA0137.2", "MA0137.3", "MA0660.1", "MA0773.1"}),
    "YY1": frozenset({"MA0095.1", "MA0095.2"}),
}

#: How MatchFilters trims each filter PWM before Tomtom (the paper's setting, as
#: :meth:`motiflens.motifs.Motif.trim` takes them): keep the span from the first to the last
#: position above ``TRIM_THRESHOLD`` bits of information content, plus ``TRIM_PADDING``
#: positions on each side. The one home of these values: the MotifMatch service and
#: bench/rematch.py read them here, so match fractions are computed one way.
TRIM_THRESHOLD = 0.5
TRIM_PADDING = 3

#: Hits to these ids do not count as "matches any JASPAR motif": MA0615.1 (Gmeb1) hits noise.
NOISE_MOTIF_IDS = frozenset({"MA0615.1"})


@dataclass(frozen=True)
class MatchStatistics:
    """How many filters match the ground truth or any database motif.

    Attributes
    ----------
    num_filters : int
    match_fraction : float
        Filters with a hit to a ground-truth TF's motif / all filters.
    match_any_fraction : float
        Filters with any hit (noise motifs excluded) / all filters.
    filter_tfs : dict of int to list of str
        Ground-truth TFs each matching filter hits (sorted).
    covered_tfs : list of str
        Ground-truth TFs matched by at least one filter.
    """

    num_filters: int
    match_fraction: float
    match_any_fraction: float
    filter_tfs: dict[int, list[str]]
    covered_tfs: list[str]


def match_statistics(
    hits_by_filter: Mapping[int, Iterable[str]],
    num_filters: int,
    *,
    ground_truth: Mapping[str, Iterable[str]] = TASK1_GROUND_TRUTH,
    noise_ids: Iterable[str] = NOISE_MOTIF_IDS,
) -> MatchStatistics:
    """Match fractions of a first layer from its significant Tomtom hits.

    Parameters
    ----------
    hits_by_filter : mapping of filter index to target ids
        The target ids of each filter's significant hits (e.g. E < 0.1); filters
        with no hit may be absent. Several hits to one TF count once.
    num_filters : int
        F, the number of first-layer filters (the denominator).
    ground_truth : mapping of TF name to JASPAR ids
        Default: the Task 1 sets of PAPER-NOTES.md.
    noise_ids : ids whose hits do not count towards ``match_any_fraction``.
    """
    if num_filters < 1:
        raise InvalidInputError(f"num_filters: expected >= 1, got {num_filters}", field="num_filters")
    id_to_tf = {motif_id: tf for tf, ids in ground_truth.items() for motif_id in ids}
    noise = set(noise_ids)
    filter_tfs: dict[int, list[str]] = {}
    matched_any = 0
    for index, targets in hits_by_filter.items():
        if not 0 <= index < num_filters:
            raise InvalidInputError(
                f"hits_by_filter: filter index {index} outside 0..{num_filters - 1}", field="hits_by_filter"
            )
        targets = set(targets)
        tfs = sorted({id_to_tf[target] for target in targets if target in id_to_tf})
        if tfs:
            filter_tfs[int(index)] = tfs
        if targets - noise:
            matched_any += 1
    covered = sorted({tf for tfs in filter_tfs.values() for tf in tfs})
    return MatchStatistics(
        num_filters=num_filters,
        match_fraction=len(filter_tfs) / num_filters,
        match_any_fraction=matched_any / num_filters,
        filter_tfs=filter_tfs,
        covered_tfs=covered,
    )


def hits_by_filter(hits: Iterable, *, prefix: str = "filter") -> dict[int, list[str]]:
    """Group Tomtom hits (objects with ``query_id`` and ``target_id``) by filter index.

    Query ids must be ``<prefix><index>`` as produced by :meth:`FilterAlignment.motifs`.
    """
    grouped: dict[int, list[str]] = {}
    for hit in hits:
        query = str(hit.query_id)
        if not query.startswith(prefix) or not query[len(prefix) :].isdigit():
            raise InvalidInputError(f"hit query id {query!r}: expected '{prefix}<index>'")
        grouped.setdefault(int(query[len(prefix) :]), []).append(str(hit.target_id))
    return grouped
