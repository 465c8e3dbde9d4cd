"""Integrated gradients from shuffled references, in bounded blocks of path points.

Scores are the mean over references r of (x - r) ⊙ ∫ grad f(r + α(x - r)) dα, the
integral by the midpoint rule (see :func:`integrated_gradients`).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from motiflens.attribution._graph import (
    DEFAULT_BATCH_SIZE,
    REFERENCES,
    Attribution,
    Output,
    Reference,
    StopCheck,
    _check_choice,
    _check_offset,
    _check_positive_int,
    _check_seed,
    _check_stop,
    _compiled,
    _gradient_function,
    _groups,
    _prepare,
    _sum_by,
)
from motiflens.attribution.forms import correct_gradient, hypothetical_contributions, project
from motiflens.attribution.references import _reference_blocks


def _path_gradient_sums(
    gradient: Callable,
    references: np.ndarray,
    difference: np.ndarray,
    alphas: np.ndarray,
    batch_size: int,
    should_stop: StopCheck | None,
) -> np.ndarray:
    """Σ_k grad f(r + α_k (x - r)) for each reference r of a block, ``batch_size`` path points a pass.

    Parameters
    ----------
    references, difference : np.ndarray, shape (U, L, 4), float32
        The block's references r and x - r.
    alphas : np.ndarray, shape (m,), float32

    Returns
    -------
    np.ndarray, shape (U, L, 4), float64
    """
    num_steps = len(alphas)
    rows = len(references) * num_steps
    sums = np.zeros(references.shape, dtype=np.float64)
    # Path points are numbered reference-major (u * m + k) and built one pass at a time,
    # so a block never holds more than one pass of them.
    for start in range(0, rows, batch_size):
        _check_stop(should_stop, "integrated_gradients")
        unit, step = np.divmod(np.arange(start, min(rows, start + batch_size)), num_steps)
        path = references[unit] + alphas[step, None, None] * difference[unit]
        _sum_by(unit, gradient(tf.constant(path)).numpy(), sums)
    return sums


def integrated_gradients(
    model: keras.Model,
    X: np.ndarray,
    *,
    target: int = 0,
    output: Output = "logit",
    num_steps: int = 20,
    num_references: int = 10,
    reference: Reference = "shuffle",
    seed: int = 0,
    index_offset: int = 0,
    gradient_correction: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    should_stop: StopCheck | None = None,
) -> Attribution:
    """Integrated gradients from shuffled references, averaged over references.

    Scores are mean over references r of (x - r) ⊙ (1/m) Σ_k grad f(r + α_k (x - r))
    with α_k = (k + 1/2) / m, k = 0..m-1 (midpoint rule, m = ``num_steps``). They
    sum to about f(x) - mean f(r); the gap is the quadrature error (O(1/m²) on a
    smooth path, O(1/m) across relu and max-pool switches).

    Parameters
    ----------
    model : keras.Model
        A functional model with input (N, L, 4).
    X : np.ndarray, shape (N, L, 4), float32
        One-hot DNA, L the model's input length, N >= 1.
    target : int, default 0
        Output unit scored.
    output : {"logit", "probability"}, default "logit"
        Score the logit or the sigmoid output.
    num_steps : int, default 20
        Points on the path from each reference to x (the paper: 20).
    num_references : int, default 10
        References averaged over (the paper: 10).
    reference : {"shuffle", "dinucleotide"}, default "shuffle"
        How references are made (see :func:`make_references`).
    seed : int, default 0
        Seed of the references.
    index_offset : int, default 0
        X[i] draws its references as sequence ``index_offset + i`` would, so a batch
        attributed in chunks gets the same references as in one call.
    gradient_correction : bool, default False
        Subtract the per-position mean over bases from the path-averaged gradients first
        (:func:`motiflens.attribution.forms.correct_gradient`). Against one-hot
        references this changes ``scores`` per base but neither their per-position
        sums nor ``hypothetical``.
    batch_size : int, default 256
        Path points (model evaluations) per forward/backward pass. Memory is a few
        passes' worth (references and path points are made one block at a time),
        whatever ``num_steps`` and ``num_references`` are.
    should_stop : callable, optional
        Asked before each pass; True abandons the work (CancelledError).

    Returns
    -------
    Attribution
        ``scores`` (N, L, 4) float32; ``hypothetical`` the mean over references of
        m - Σ_b m r (:func:`motiflens.attribution.forms.hypothetical_contributions`)
        and ``projected`` hypothetical × X, which sums per sequence to the same total
        as ``scores`` for one-hot X.

    Raises
    ------
    InvalidInputError
        Bad X, target, counts, reference kind or seed.
    CancelledError
        ``should_stop()`` returned True.
    """
    graph, X, target = _prepare(model, X, target, output, batch_size)
    num_steps = _check_positive_int(num_steps, "num_steps")
    num_references = _check_positive_int(num_references, "num_references")
    _check_choice(reference, "reference", REFERENCES)
    seed = _check_seed(seed)
    offset = _check_offset(index_offset)
    alphas = ((np.arange(num_steps) + 0.5) / num_steps).astype(np.float32)
    gradient = _compiled(model, ("gradient", output, target), lambda: _gradient_function(graph, target))
    # A block of references makes about four passes of path points (at least one reference).
    block = max(1, (4 * batch_size) // num_steps)
    scores = np.empty(X.shape, dtype=np.float32)
    hypothetical = np.empty(X.shape, dtype=np.float32)
    for group in _groups(X.shape[0], num_references, block):
        X_group = X[group]
        total = np.zeros(X_group.shape, dtype=np.float64)
        hypothetical_total = np.zeros(X_group.shape, dtype=np.float64)
        blocks = _reference_blocks(X_group, offset + group.start, num_references, reference, seed, block)
        for index, references in blocks:
            difference = X_group[index] - references
            gradient_sums = _path_gradient_sums(
                gradient, references, difference, alphas, batch_size, should_stop
            )
            multipliers = gradient_sums / num_steps
            if gradient_correction:
                multipliers = correct_gradient(multipliers)
            _sum_by(index, multipliers * difference, total)
            _sum_by(index, hypothetical_contributions(multipliers, references), hypothetical_total)
        scores[group] = total / num_references
        hypothetical[group] = hypothetical_total / num_references
    return Attribution(
        scores,
        "integrated_gradients",
        target,
        output,
        num_references,
        num_steps,
        reference,
        seed,
        hypothetical=hypothetical,
        projected=project(hypothetical, X),
        gradient_correction=bool(gradient_correction),
    )
