"""Agreement of two Tomtom outputs: MEME Tomtom's ``tomtom.tsv`` and ours (or any two).

Used by ``bench/tomtom_parity.py`` (a user with MEME checks us on their motifs) and by
the known-answer tests against MEME's published outputs. For the hits with
E-value <= a threshold: recall (MEME's (query, target) pairs we report too),
precision (our pairs MEME reports), best-hit agreement (queries whose best MEME
target, ties included, is our best), p-value ratios over the common pairs, and how
often offset, overlap and strand agree.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from motiflens.tomtom import TomtomHit


@dataclass(frozen=True)
class Row:
    """One hit row of a Tomtom TSV."""

    query_id: str
    target_id: str
    offset: int
    p_value: float
    e_value: float
    overlap: int
    orientation: str


@dataclass(frozen=True)
class Parity:
    """How two sets of Tomtom hits agree (see the module docstring)."""

    recall: float
    precision: float
    best_hit_agreement: float
    meme_hits: int
    our_hits: int
    common: int
    p_ratios: tuple[float, ...]
    same_alignment: float


def read_tomtom_tsv(path: str | Path) -> list[Row]:
    """The hit rows of a MEME (or motiflens) ``tomtom.tsv``, in file order."""
    rows = []
    for line in Path(path).read_text().splitlines()[1:]:
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        rows.append(
            Row(
                query_id=fields[0],
                target_id=fields[1],
                offset=int(fields[2]),
                p_value=float(fields[3]),
                e_value=float(fields[4]),
                overlap=int(fields[6]),
                orientation=fields[9],
            )
        )
    return rows


def as_rows(hits: list[TomtomHit]) -> list[Row]:
    """Our hits as TSV rows."""
    return [
        Row(h.query_id, h.target_id, h.offset, h.p_value, h.e_value, h.overlap, h.orientation) for h in hits
    ]


def parity(meme: list[Row], ours: list[Row], threshold: float) -> Parity:
    """Agreement of the hits with E <= ``threshold`` of MEME and ours."""
    meme = [row for row in meme if row.e_value <= threshold]
    ours = [row for row in ours if row.e_value <= threshold]
    meme_pairs = {(row.query_id, row.target_id): row for row in meme}
    our_pairs = {(row.query_id, row.target_id): row for row in ours}
    common = meme_pairs.keys() & our_pairs.keys()
    best_meme: dict[str, set[str]] = {}
    best_p: dict[str, float] = {}
    for row in meme:  # MEME's order: best first within a query; ties share the best p
        if row.query_id not in best_p:
            best_p[row.query_id] = row.p_value
        if row.p_value == best_p[row.query_id]:
            best_meme.setdefault(row.query_id, set()).add(row.target_id)
    best_ours: dict[str, str] = {}
    for row in ours:
        best_ours.setdefault(row.query_id, row.target_id)
    agreeing = sum(best_ours.get(query) in targets for query, targets in best_meme.items())
    ratios = tuple(
        our_pairs[pair].p_value / meme_pairs[pair].p_value
        for pair in sorted(common)
        if meme_pairs[pair].p_value > 0
    )
    same = sum(
        (our_pairs[p].offset, our_pairs[p].overlap, our_pairs[p].orientation)
        == (meme_pairs[p].offset, meme_pairs[p].overlap, meme_pairs[p].orientation)
        for p in common
    )
    return Parity(
        recall=len(common) / len(meme_pairs) if meme_pairs else math.nan,
        precision=len(common) / len(our_pairs) if our_pairs else math.nan,
        best_hit_agreement=agreeing / len(best_meme) if best_meme else math.nan,
        meme_hits=len(meme_pairs),
        our_hits=len(our_pairs),
        common=len(common),
        p_ratios=ratios,
        same_alignment=same / len(common) if common else math.nan,
    )


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def report(result: Parity) -> str:
    """The figures as printed lines."""
    lines = [
        f"E-value hits: MEME {result.meme_hits}, motiflens {result.our_hits}, both {result.common}",
        f"recall {result.recall:.3f}  precision {result.precision:.3f}  "
        f"best-hit agreement {result.best_hit_agreement:.3f}",
    ]
    if result.p_ratios:
        ratios = list(result.p_ratios)
        lines.append(
            f"p-value ratio ours/MEME over common hits: median {statistics.median(ratios):.4f}, "
            f"5%-95% {_quantile(ratios, 0.05):.4f}-{_quantile(ratios, 0.95):.4f}, "
            f"min {min(ratios):.4f}, max {max(ratios):.4f}"
        )
        lines.append(f"same offset, overlap and strand: {result.same_alignment:.3f}")
    return "\n".join(lines)
