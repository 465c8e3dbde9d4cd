"""What a comparison returns: :class:`TomtomTable` (all Q x N statistics), its :class:`TomtomHit` rows."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from motiflens.errors import InvalidInputError
from motiflens.motifs import Motif, MotifDatabase


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
