"""Saliency: the gradient of one output unit with respect to the one-hot input."""

from __future__ import annotations

import keras
import numpy as np

from motiflens.attribution._graph import (
    DEFAULT_BATCH_SIZE,
    Attribution,
    Output,
    StopCheck,
    _compiled,
    _gradient_function,
    _gradients,
    _prepare,
)
from motiflens.attribution.forms import correct_gradient, project


def saliency(
    model: keras.Model,
    X: np.ndarray,
    *,
    target: int = 0,
    output: Output = "logit",
    times_input: bool = False,
    gradient_correction: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    should_stop: StopCheck | None = None,
) -> Attribution:
    """Gradient of one output unit with respect to the one-hot input.

    Parameters
    ----------
    model : keras.Model
        A functional model with input (N, L, 4), e.g. from motiflens.models.
    X : np.ndarray, shape (N, L, 4), float32
        One-hot DNA, L the model's input length, N >= 1.
    target : int, default 0
        Output unit scored.
    output : {"logit", "probability"}, default "logit"
        Score the logit (input of the ``logits`` layer) or the sigmoid output.
    times_input : bool, default False
        Multiply the gradient by X (grad × input, as the paper reports saliency).
    gradient_correction : bool, default False
        Subtract the per-position mean over the four bases from the gradient first
        (Majdandzic et al. 2023; :func:`motiflens.attribution.forms.correct_gradient`).
    batch_size : int, default 256
        Sequences per forward/backward pass.
    should_stop : callable, optional
        Asked before each pass; True abandons the work (CancelledError).

    Returns
    -------
    Attribution
        ``scores`` (N, L, 4) float32: the gradient, or gradient × X; ``hypothetical``
        is the gradient and ``projected`` gradient × X.

    Raises
    ------
    InvalidInputError
        Bad X shape or length, empty batch, target out of range, bad option.
    CancelledError
        ``should_stop()`` returned True.
    """
    graph, X, target = _prepare(model, X, target, output, batch_size)
    gradient = _compiled(model, ("gradient", output, target), lambda: _gradient_function(graph, target))
    hypothetical = _gradients(gradient, X, batch_size, should_stop)
    if gradient_correction:
        hypothetical = correct_gradient(hypothetical)
    projected = project(hypothetical, X)
    return Attribution(
        projected if times_input else hypothetical,
        "saliency",
        target,
        output,
        times_input=bool(times_input),
        hypothetical=hypothetical,
        projected=projected,
        gradient_correction=bool(gradient_correction),
    )
