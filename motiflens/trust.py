"""Can this model's explanations be trusted? Scores that need no ground truth.

The paper's question (Koo & Ploenzke 2021) is answered there with ground truth: planted
motifs. A lab's model has none, so the trust report measures what trustworthy
explanations must also show, from the model and its sequences alone:

- **filter_match**: the fraction of first-layer filters (as PWMs from aligned
  activations) with a Tomtom hit (E <= 0.1) in a motif database, beside the fraction
  expected by chance — the same filters with their columns shuffled (same information
  content, no motif order) — and their difference, ``filter_match_excess``.
- **method_agreement**: per sequence, the Spearman rank correlation between the
  per-position contributions of saliency (gradient-corrected, × input), ISM
  (mean-centred, projected) and DeepSHAP (projected), averaged over sequences and pairs.
- **reference_stability**: the same rank correlation between DeepSHAP with two
  independent sets of shuffled references.
- **reverse_complement_stability**: between DeepSHAP of x and of its reverse
  complement, mapped back position by position (a motif is the same motif on either strand).
- **off_simplex_fraction**: the share of the saliency gradient's squared norm that points
  off the one-hot simplex (Majdandzic et al. 2023), which is noise; lower is better.

Each score comes from :func:`rank_agreement`, :func:`reverse_complement`,
:func:`shuffled_columns` and :func:`motiflens.attribution.off_simplex_fraction`; the
interpreter's ``ScoreTrust`` computes the attributions and puts them together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import keras
import numpy as np

from motiflens.attribution import attribute, off_simplex_fraction
from motiflens.errors import InvalidInputError
from motiflens.filters import filter_pwms
from motiflens.matching import NOISE_MOTIF_IDS, TRIM_PADDING, TRIM_THRESHOLD
from motiflens.motifs import Motif, MotifDatabase
from motiflens.tomtom import tomtom

__all__ = [
    "METHOD_PAIRS",
    "TrustScores",
    "contributions",
    "filter_match",
    "rank_agreement",
    "reverse_complement",
    "score_trust",
    "shuffled_columns",
]

#: The attribution methods whose agreement is scored, pairwise.
METHOD_PAIRS: tuple[tuple[str, str], ...] = (
    ("saliency", "ism"),
    ("saliency", "deepshap"),
    ("ism", "deepshap"),
)


def contributions(projected: np.ndarray | None) -> np.ndarray:
    """Per-position contribution of the bases present: projected map (N, L, 4) summed over bases; (N, L)."""
    if projected is None:
        raise InvalidInputError("contributions: the attribution has no projected map")
    return np.asarray(projected, dtype=np.float64).sum(axis=-1)


def _ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis (ties share their mean rank), float64."""
    order = np.argsort(values, axis=-1, kind="stable")
    ranks = np.empty(values.shape, dtype=np.float64)
    rows = np.arange(values.shape[0])[:, None]
    ranks[rows, order] = np.arange(values.shape[-1], dtype=np.float64)
    # Ties: replace each run of equal values by its mean rank.
    for n in range(values.shape[0]):
        sorted_values = values[n, order[n]]
        starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
        if len(starts) == values.shape[-1]:
            continue
        ends = np.r_[starts[1:], values.shape[-1]]
        for start, end in zip(starts, ends, strict=True):
            if end - start > 1:
                ranks[n, order[n, start:end]] = (start + end - 1) / 2
    return ranks


def rank_agreement(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each row of ``a`` with the same row of ``b``.

    Parameters
    ----------
    a, b : np.ndarray, shape (N, L)

    Returns
    -------
    np.ndarray, shape (N,), float64, in [-1, 1]
        0 for a row where either side is constant (no ranking to agree on).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise InvalidInputError(f"rank_agreement: expected two (N, L) arrays, got {a.shape} and {b.shape}")
    ra, rb = _ranks(a), _ranks(b)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    norm = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    return np.divide((ra * rb).sum(axis=1), norm, out=np.zeros(len(a)), where=norm > 0)


def reverse_complement(X: np.ndarray) -> np.ndarray:
    """Reverse complement of one-hot DNA (N, L, 4), channels A, C, G, T: positions and channels reversed."""
    return np.ascontiguousarray(X[:, ::-1, ::-1])


def shuffled_columns(motifs: Sequence[Motif], seed: int) -> list[Motif]:
    """Each motif with its columns (positions) permuted: same information content, no motif order.

    Ids get a ``"shuffled:"`` prefix; generator seeded with ``seed``.
    """
    rng = np.random.default_rng(seed)
    return [
        Motif(
            f"shuffled:{motif.motif_id}", motif.name, motif.pwm[rng.permutation(len(motif.pwm))], motif.nsites
        )
        for motif in motifs
    ]


def filter_match(
    motifs: Sequence[Motif],
    database: MotifDatabase | Iterable[Motif],
    *,
    num_shuffles: int = 5,
    seed: int = 0,
    evalue_threshold: float = 0.1,
) -> tuple[float, float]:
    """(observed, chance) fraction of filters with a Tomtom hit in ``database``.

    Filters are trimmed as MatchFilters trims them (0.5 bits, 3 columns of padding; a
    filter with no informative column counts as unmatched). Chance is the mean fraction
    over ``num_shuffles`` column shuffles of the same filters (:func:`shuffled_columns`).
    Hits to :data:`motiflens.matching.NOISE_MOTIF_IDS` do not count.
    """
    if not motifs:
        return 0.0, 0.0
    database = list(database)

    def fraction(queries: Sequence[Motif]) -> float:
        trimmed = [
            t for t in (motif.trim(TRIM_THRESHOLD, TRIM_PADDING) for motif in queries) if t is not None
        ]
        if not trimmed:
            return 0.0
        hits = tomtom(trimmed, database, evalue_threshold=evalue_threshold)
        matched = {hit.query_id for hit in hits if hit.target_id not in NOISE_MOTIF_IDS}
        return len(matched) / len(queries)

    chance = [fraction(shuffled_columns(motifs, seed + k)) for k in range(num_shuffles)]
    return fraction(motifs), float(np.mean(chance))


@dataclass(frozen=True)
class TrustScores:
    """Ground-truth-free trust scores of one model on N sequences (see the module docstring).

    Attributes
    ----------
    num_sequences : int
    filter_match, filter_match_chance, filter_match_excess : float or None
        None for a model without a scannable first convolution.
    method_agreement : dict of str to float
        "saliency~ism", "saliency~deepshap", "ism~deepshap": mean Spearman over sequences.
    mean_method_agreement : float
    reference_stability, reverse_complement_stability : float
        Mean Spearman over sequences.
    off_simplex_fraction : float
        Mean over sequences.
    per_sequence : dict of str to np.ndarray
        The per-sequence values behind each mean, shape (N,).
    """

    num_sequences: int
    filter_match: float | None
    filter_match_chance: float | None
    filter_match_excess: float | None
    method_agreement: dict[str, float]
    mean_method_agreement: float
    reference_stability: float
    reverse_complement_stability: float
    off_simplex_fraction: float
    per_sequence: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def summary(self) -> dict:
        """The scores as plain JSON-ready numbers (no per-sequence arrays)."""
        return {
            "num_sequences": self.num_sequences,
            "filter_match": self.filter_match,
            "filter_match_chance": self.filter_match_chance,
            "filter_match_excess": self.filter_match_excess,
            "method_agreement": dict(self.method_agreement),
            "mean_method_agreement": self.mean_method_agreement,
            "reference_stability": self.reference_stability,
            "reverse_complement_stability": self.reverse_complement_stability,
            "off_simplex_fraction": self.off_simplex_fraction,
        }


def score_trust(
    model: keras.Model,
    X: np.ndarray,
    *,
    database: MotifDatabase | Iterable[Motif] | None,
    target: int = 0,
    output: str = "logit",
    num_references: int = 10,
    seed: int = 0,
    num_shuffles: int = 5,
    batch_size: int = 256,
    should_stop: Callable[[], bool] | None = None,
) -> TrustScores:
    """Every ground-truth-free trust score of ``model`` on X (N, L, 4).

    ``database`` None skips the filter match (a model without a scannable first
    convolution). Attributions score output ``target``'s ``output``; DeepSHAP uses
    ``num_references`` shuffled references (seed ``seed``; the stability check draws a
    second set with ``seed + 1``).
    """
    common = {"target": target, "output": output, "batch_size": batch_size, "should_stop": should_stop}
    deepshap_options = {"num_references": num_references, **common}
    maps = {
        "saliency": attribute(model, X, "saliency", gradient_correction=True, **common),
        "ism": attribute(model, X, "ism", **common),
        "deepshap": attribute(model, X, "deepshap", seed=seed, **deepshap_options),
    }
    per_position = {name: contributions(result.projected) for name, result in maps.items()}
    per_sequence = {f"{a}~{b}": rank_agreement(per_position[a], per_position[b]) for a, b in METHOD_PAIRS}
    other_references = attribute(model, X, "deepshap", seed=seed + 1, **deepshap_options)
    per_sequence["reference_stability"] = rank_agreement(
        per_position["deepshap"], contributions(other_references.projected)
    )
    reverse = attribute(model, reverse_complement(X), "deepshap", seed=seed, **deepshap_options)
    per_sequence["reverse_complement_stability"] = rank_agreement(
        per_position["deepshap"], contributions(reverse.projected)[:, ::-1]
    )
    raw_gradient = attribute(model, X, "saliency", **common)
    per_sequence["off_simplex_fraction"] = off_simplex_fraction(raw_gradient.scores)  # the plain gradient
    observed = chance = None
    if database is not None:
        motifs = filter_pwms(model, X, batch_size=batch_size, should_stop=should_stop).motifs()
        observed, chance = filter_match(motifs, database, num_shuffles=num_shuffles, seed=seed)
    agreement = {f"{a}~{b}": float(per_sequence[f"{a}~{b}"].mean()) for a, b in METHOD_PAIRS}
    return TrustScores(
        num_sequences=len(X),
        filter_match=observed,
        filter_match_chance=chance,
        filter_match_excess=None if observed is None or chance is None else observed - chance,
        method_agreement=agreement,
        mean_method_agreement=float(np.mean(list(agreement.values()))),
        reference_stability=float(per_sequence["reference_stability"].mean()),
        reverse_complement_stability=float(per_sequence["reverse_complement_stability"].mean()),
        off_simplex_fraction=float(per_sequence["off_simplex_fraction"].mean()),
        per_sequence=per_sequence,
    )
