"""Metrics of the paper: classification, interpretability of attribution maps, motif localization.

- Classification: AUROC and AUPR (average precision) per output, their mean and
  standard deviation.
- Interpretability (Methods, "Attribution analysis"): per sequence, the score of
  position i is Σ_j S_ij X_ij (the attribution at the observed base); positions
  whose ground-truth information content exceeds 0.01 bits are positives, all
  others negatives; AUROC and AUPR per sequence.
- Localization (Methods, "Motif localization analysis"): a sequence is cut into
  regions — each implanted motif (ground-truth information > 0) padded by 10 nt on
  both sides, and the background stretches between them; a region's score is the
  maximum of a scan (first-layer filter activations, or PWM log-odds) inside it;
  AUROC of motif regions against background regions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from motiflens.errors import CancelledError, InvalidInputError
from motiflens.motifs import Motif, information_content
from motiflens.sequences import check_one_hot

INFORMATION_THRESHOLD = 0.01
LOCALIZATION_PADDING = 10


# --------------------------------------------------------------------------- classification


def classification_metrics(y_true: np.ndarray, y_score: np.ndarray) -> dict:
    """AUROC and AUPR per output, with their mean and standard deviation.

    Parameters
    ----------
    y_true : np.ndarray, shape (N, T) or (N,)
        Binary targets.
    y_score : np.ndarray, same shape
        Predicted probabilities (or any monotone score).

    Returns
    -------
    dict
        ``auroc``, ``aupr`` (means over outputs whose labels have both classes),
        ``auroc_std``, ``aupr_std`` (population standard deviations over those outputs),
        ``auroc_per_class`` and ``aupr_per_class`` (lists, NaN where undefined).
    """
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score)
    if y_true.ndim == 1:
        y_true = y_true[:, None]
    if y_score.ndim == 1:
        y_score = y_score[:, None]
    if y_true.shape != y_score.shape:
        raise InvalidInputError(
            f"y_score: expected shape {y_true.shape} (as y_true), got {y_score.shape}", field="y_score"
        )
    auroc, aupr = [], []
    for t in range(y_true.shape[1]):
        labels = y_true[:, t] > 0.5
        if labels.all() or not labels.any():
            # One class only: both areas are undefined for this output.
            auroc.append(math.nan)
            aupr.append(math.nan)
            continue
        auroc.append(float(roc_auc_score(labels, y_score[:, t])))
        aupr.append(float(average_precision_score(labels, y_score[:, t])))
    defined_roc = np.array([a for a in auroc if not math.isnan(a)])
    defined_pr = np.array([a for a in aupr if not math.isnan(a)])
    return {
        "auroc": float(defined_roc.mean()) if defined_roc.size else math.nan,
        "aupr": float(defined_pr.mean()) if defined_pr.size else math.nan,
        "auroc_std": float(defined_roc.std()) if defined_roc.size else math.nan,
        "aupr_std": float(defined_pr.std()) if defined_pr.size else math.nan,
        "auroc_per_class": auroc,
        "aupr_per_class": aupr,
    }


def binary_cross_entropy(y_true: np.ndarray, y_prob: np.ndarray) -> float:
    """Mean binary cross-entropy, probabilities clipped to [1e-7, 1 - 1e-7]."""
    p = np.clip(np.asarray(y_prob, dtype=np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(y_true, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


# --------------------------------------------------------------------------- ground truth


def _check_same_positions(name: str, array: np.ndarray, reference: np.ndarray) -> None:
    if array.shape[:2] != reference.shape[:2]:
        raise InvalidInputError(
            f"{name}: expected (N, L) = {reference.shape[:2]} to match the ground truth, "
            f"got {array.shape[:2]}",
            field=name,
        )


# --------------------------------------------------------------------------- interpretability


@dataclass(frozen=True)
class InterpretabilityScores:
    """Per-sequence interpretability AUROC and AUPR (NaN where a sequence lacks one class).

    ``auroc`` and ``aupr`` have shape (N,).
    """

    auroc: np.ndarray
    aupr: np.ndarray

    def summary(self) -> dict:
        """Mean and standard deviation over sequences where defined."""
        return {
            "auroc": float(np.nanmean(self.auroc)),
            "auroc_std": float(np.nanstd(self.auroc)),
            "aupr": float(np.nanmean(self.aupr)),
            "aupr_std": float(np.nanstd(self.aupr)),
            "num_sequences": int(np.sum(~np.isnan(self.auroc))),
        }


def position_scores(attributions: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Per-position scores Σ_j S_ij X_ij (the attribution at the observed base).

    Parameters
    ----------
    attributions : np.ndarray, shape (N, L, 4) or (N, L)
        (N, L) scores (e.g. ISM reduced by the L2 norm) are returned unchanged.
    X : np.ndarray, shape (N, L, 4)

    Returns
    -------
    np.ndarray, shape (N, L)
    """
    attributions = np.asarray(attributions, dtype=np.float64)
    X = np.asarray(X)
    _check_same_positions("attributions", attributions, X)
    if attributions.ndim == 2:
        return attributions
    if attributions.shape != X.shape:
        raise InvalidInputError(
            f"attributions: expected shape {X.shape} (as X), got {attributions.shape}", field="attributions"
        )
    return (attributions * X).sum(axis=-1)


#: Sequences scored between two questions to ``should_stop`` (a few ms of work).
STOP_CHECK_ROWS = 256


def _check_stop(should_stop: Callable[[], bool] | None, n: int, total: int, what: str) -> None:
    """Raise CancelledError at every ``STOP_CHECK_ROWS``-th sequence if ``should_stop()`` says so."""
    if should_stop is not None and n % STOP_CHECK_ROWS == 0 and should_stop():
        raise CancelledError(f"{what}: abandoned after {n} of {total} sequences")


def interpretability_scores(
    attributions: np.ndarray,
    X: np.ndarray,
    ground_truth: np.ndarray,
    *,
    threshold: float = INFORMATION_THRESHOLD,
    should_stop: Callable[[], bool] | None = None,
) -> InterpretabilityScores:
    """Interpretability AUROC and AUPR of attribution maps against the ground truth.

    Parameters
    ----------
    attributions : np.ndarray, shape (N, L, 4) or (N, L)
        Attribution maps; (N, L) scores are used as they are.
    X : np.ndarray, shape (N, L, 4)
        The one-hot sequences attributed.
    ground_truth : np.ndarray, shape (N, L, 4)
        Sequence models that generated X.
    threshold : float, default 0.01
        Positions with information content above it (bits) are positives.
    should_stop : callable, optional
        Asked every ``STOP_CHECK_ROWS`` sequences; True abandons the work.

    Returns
    -------
    InterpretabilityScores

    Raises
    ------
    CancelledError
        ``should_stop()`` returned True.
    """
    ground_truth = check_one_hot(ground_truth, "ground_truth", allow_empty=True, finite=False)
    if np.asarray(X).shape != ground_truth.shape:
        raise InvalidInputError(
            f"X: expected shape {ground_truth.shape} (as ground_truth), got {np.shape(X)}", field="X"
        )
    scores = position_scores(attributions, X)
    labels = information_content(ground_truth) > threshold
    auroc = np.full(scores.shape[0], np.nan)
    aupr = np.full(scores.shape[0], np.nan)
    for n in range(scores.shape[0]):
        _check_stop(should_stop, n, scores.shape[0], "interpretability_scores")
        if labels[n].all() or not labels[n].any():
            continue
        auroc[n] = roc_auc_score(labels[n], scores[n])
        aupr[n] = average_precision_score(labels[n], scores[n])
    return InterpretabilityScores(auroc=auroc, aupr=aupr)


# --------------------------------------------------------------------------- localization


def motif_regions(ground_truth: np.ndarray, *, padding: int = LOCALIZATION_PADDING) -> list[list[tuple]]:
    """Cut each sequence into motif and background regions.

    Parameters
    ----------
    ground_truth : np.ndarray, shape (N, L, 4)
        Sequence models; columns with information content > 0 belong to motifs.
    padding : int, default 10
        Nucleotides added to both sides of every motif (clipped at the ends;
        overlapping padded motifs merge into one region).

    Returns
    -------
    list (one per sequence) of lists of (start, stop, is_motif)
        Half-open intervals covering the sequence, in order.
    """
    information = information_content(ground_truth)
    length = information.shape[1]
    regions = []
    for row in information:
        motif = np.zeros(length + 2 * padding, dtype=bool)
        for position in np.flatnonzero(row > 1e-9):
            motif[position : position + 2 * padding + 1] = True
        motif = motif[padding : padding + length]
        # Run-length encode the mask into alternating regions.
        edges = np.flatnonzero(np.diff(motif.astype(np.int8))) + 1
        bounds = np.concatenate([[0], edges, [length]])
        regions.append(
            [(int(a), int(b), bool(motif[a])) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        )
    return regions


@dataclass(frozen=True)
class LocalizationScores:
    """Localization AUROC: per sequence (N,), NaN where a sequence lacks one region kind, and pooled."""

    per_sequence: np.ndarray
    pooled: float

    def summary(self) -> dict:
        """Mean ± standard deviation over sequences (the paper's figure) and the pooled AUROC."""
        return {
            "auroc": float(np.nanmean(self.per_sequence)),
            "auroc_std": float(np.nanstd(self.per_sequence)),
            "pooled_auroc": self.pooled,
            "num_sequences": int(np.sum(~np.isnan(self.per_sequence))),
        }


def localization_auroc(
    scans: np.ndarray,
    ground_truth: np.ndarray,
    *,
    padding: int = LOCALIZATION_PADDING,
    should_stop: Callable[[], bool] | None = None,
) -> LocalizationScores:
    """How well scans peak at implanted motifs.

    Parameters
    ----------
    scans : np.ndarray, shape (N, L, F) or (N, L)
        Scan values per position (first-layer activations of F filters, or PWM
        scores); a region's score is the maximum over its positions and all F.
    ground_truth : np.ndarray, shape (N, L, 4)
    padding : int, default 10
    should_stop : callable, optional
        Asked every ``STOP_CHECK_ROWS`` sequences; True abandons the work.

    Returns
    -------
    LocalizationScores
        Per-sequence AUROC of motif regions vs background regions, and the AUROC
        of all regions of all sequences pooled.
    """
    scans = np.asarray(scans, dtype=np.float64)
    ground_truth = np.asarray(ground_truth)
    _check_same_positions("scans", scans, ground_truth)
    if scans.ndim == 3:
        scans = scans.max(axis=2)
    per_sequence = np.full(scans.shape[0], np.nan)
    all_scores, all_labels = [], []
    for n, regions in enumerate(motif_regions(ground_truth, padding=padding)):
        _check_stop(should_stop, n, len(scans), "localization_auroc")
        scores = np.array([scans[n, a:b].max() for a, b, _ in regions])
        labels = np.array([is_motif for _, _, is_motif in regions])
        all_scores.append(scores)
        all_labels.append(labels)
        if labels.any() and not labels.all():
            per_sequence[n] = roc_auc_score(labels, scores)
    labels = np.concatenate(all_labels)
    pooled = (
        float(roc_auc_score(labels, np.concatenate(all_scores)))
        if 0 < labels.sum() < labels.size
        else math.nan
    )
    return LocalizationScores(per_sequence=per_sequence, pooled=pooled)


def pwm_scans(
    X: np.ndarray,
    motifs: Sequence[Motif],
    *,
    pseudocount: float = 1e-3,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Log-odds scans of PWMs against a uniform background, negatives rectified to 0.

    Parameters
    ----------
    X : np.ndarray, shape (N, L, 4)
    motifs : sequence of Motif
        Include reverse complements to scan both strands.
    pseudocount : float, default 1e-3
        Added to every probability (then renormalised) so that log-odds stay finite.
    should_stop : callable, optional
        Asked before each motif's scan; True abandons the work.

    Returns
    -------
    np.ndarray, shape (N, L, M), float32
        Score of motif m for the window starting at position l - (W_m - 1)//2 (centred
        like a 'same'-padded convolution; windows past the ends score 0).

    Raises
    ------
    CancelledError
        ``should_stop()`` returned True.
    """
    X = check_one_hot(X, dtype=np.float64, allow_empty=True, finite=False)
    if not motifs:
        raise InvalidInputError("motifs: expected at least one motif", field="motifs")
    n, length, _ = X.shape
    out = np.zeros((n, length, len(motifs)), dtype=np.float32)
    for m, motif in enumerate(motifs):
        if should_stop is not None and should_stop():
            raise CancelledError(f"pwm_scans: abandoned after {m} of {len(motifs)} motifs")
        probabilities = (motif.pwm + pseudocount) / (1 + 4 * pseudocount)
        log_odds = np.log2(probabilities / 0.25)
        width = motif.width
        if width > length:
            continue
        # score[s] = Σ_k X[s + k] · log_odds[k] for every full window start s.
        windows = np.lib.stride_tricks.sliding_window_view(X, width, axis=1)  # (N, L-W+1, 4, W)
        scores = np.einsum("nsak,ka->ns", windows, log_odds)
        left = (width - 1) // 2
        out[:, left : left + scores.shape[1], m] = np.maximum(scores, 0.0)
    return out
