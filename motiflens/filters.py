"""First-layer filters as motifs: activation scans, aligned PWMs, logos and match statistics.

Filter PWMs follow the activation-based alignment of the paper (Methods, "Filter
visualisation", with the details of PAPER-NOTES.md): every first-layer filter
scans all given sequences (post-activation); every position whose activation
exceeds ``threshold`` × that filter's maximum over the sequences is a site; the
window of the input that the filter saw there is cut out (windows that run off
the sequence are dropped), and the one-hot windows are averaged into a position
probability matrix.

Window placement: with 'same' padding (every zoo model), output position i of a
width-k filter sees input positions i − (k − 1)//2 … i + k//2. By default the
window is exactly that receptive field (the authors cut 20 nt about each site of
their width-19 filters; ``window=20`` reproduces that, extending the field by
one column on the right).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np

from motiflens.errors import CancelledError, InvalidInputError
from motiflens.matching import (  # noqa: F401  (re-exported: filters are where users look)
    NOISE_MOTIF_IDS,
    TASK1_GROUND_TRUTH,
    MatchStatistics,
    hits_by_filter,
    match_statistics,
)
from motiflens.models import first_layer_model, scan_geometry
from motiflens.motifs import Motif, information_content
from motiflens.sequences import check_one_hot


def _check_X(model: keras.Model, X: np.ndarray) -> np.ndarray:
    return check_one_hot(X, length=model.input_shape[1], dtype=np.float32, finite=False)


def filter_scans(model: keras.Model, X: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """First-layer activations (after the activation function) over each sequence.

    Parameters
    ----------
    model : keras.Model
        A zoo model, or an imported one (its first Conv1D, :func:`motiflens.models.first_layer_model`).
    X : np.ndarray, shape (N, L, 4)
    batch_size : int
        Sequences per forward pass.

    Returns
    -------
    np.ndarray, shape (N, L, F), float32
        Inference-mode activations (batch norm with moving statistics, no dropout).
    """
    X = _check_X(model, X)
    if batch_size < 1:
        raise InvalidInputError(f"batch_size: expected >= 1, got {batch_size}", field="batch_size")
    return np.asarray(first_layer_model(model).predict(X, batch_size=batch_size, verbose=0), np.float32)


@dataclass(frozen=True)
class FilterMotif:
    """One first-layer filter seen as a motif.

    Attributes
    ----------
    index : int
        Filter index in the first layer.
    pwm : np.ndarray, shape (W, 4), float64
        Position probability matrix of the aligned sites (uniform 0.25 when there are none).
    num_sites : int
        Windows averaged into the PWM.
    max_activation : float
        The filter's maximum activation over the sequences given.
    """

    index: int
    pwm: np.ndarray
    num_sites: int
    max_activation: float

    def to_motif(self, prefix: str = "filter") -> Motif:
        """As a :class:`Motif` with id ``filter<index>`` (for MEME output and Tomtom)."""
        motif_id = f"{prefix}{self.index}"
        return Motif(motif_id=motif_id, name=motif_id, pwm=self.pwm, nsites=self.num_sites)


@dataclass(frozen=True)
class FilterAlignment:
    """Result of :func:`filter_pwms`: one FilterMotif per filter and the scans they came from.

    ``scans`` has shape (N, L, F), float32.
    """

    filters: tuple[FilterMotif, ...]
    scans: np.ndarray = field(repr=False)
    threshold: float = 0.5
    window: int = 19

    def motifs(self, prefix: str = "filter") -> list[Motif]:
        """The filters as Motifs (ids ``filter0``, ``filter1``, ...)."""
        return [motif.to_motif(prefix) for motif in self.filters]


def filter_pwms(
    model: keras.Model,
    X: np.ndarray,
    *,
    threshold: float = 0.5,
    window: int | None = None,
    batch_size: int = 256,
    scans: np.ndarray | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> FilterAlignment:
    """First-layer filter PWMs by activation-based alignment.

    Parameters
    ----------
    model : keras.Model
        A zoo model.
    X : np.ndarray, shape (N, L, 4)
        Sequences to scan (the paper used the test set).
    threshold : float, default 0.5
        Fraction of each filter's maximum activation a position must exceed to be a site.
    window : int, optional
        Window length cut about each site; default the filter width (its receptive
        field). Windows that run off either end of the sequence are dropped.
    batch_size : int
        Sequences per forward pass.
    scans : np.ndarray, shape (N, L, F), optional
        :func:`filter_scans` of ``X`` when the caller computed them already (a server
        does, batch by batch, so that it can stop between batches).
    should_stop : callable, optional
        Asked before each filter is aligned; True abandons the work.

    Returns
    -------
    FilterAlignment
        ``filters[f].pwm`` has shape (window, 4).

    Raises
    ------
    CancelledError
        ``should_stop()`` returned True.
    """
    if not 0 < threshold <= 1:
        raise InvalidInputError(
            f"threshold: expected a fraction in (0, 1], got {threshold}", field="threshold"
        )
    X = _check_X(model, X)
    width, filters_count, centre = scan_geometry(model)
    window = width if window is None else int(window)
    if not 1 <= window <= X.shape[1]:
        raise InvalidInputError(
            f"window: expected 1..{X.shape[1]} (the sequence length), got {window}", field="window"
        )
    if scans is None:
        scans = filter_scans(model, X, batch_size=batch_size)
    scan_length = X.shape[1] if centre == 0 else X.shape[1] - width + 1
    if scans.shape != (X.shape[0], scan_length, filters_count):
        raise InvalidInputError(
            f"scans: expected shape {(X.shape[0], scan_length, filters_count)} (N, L', filters), "
            f"got {scans.shape}",
            field="scans",
        )
    # Offset of a window's first column relative to the output position, for 'same' padding:
    # centred on the receptive field, extra columns going to the right.
    # ('valid' padding: position p's receptive field starts at p, so the centre moves by `centre`.)
    left = (width - 1) // 2 + (window - width) // 2 if window >= width else (window - 1) // 2
    left -= centre
    length = X.shape[1]
    filters = []
    for index in range(scans.shape[2]):
        if should_stop is not None and should_stop():
            raise CancelledError(f"filter_pwms: abandoned after {index} of {scans.shape[2]} filters")
        scan = scans[:, :, index]
        maximum = float(scan.max())
        if maximum > 0:
            sequence, position = np.nonzero(scan > threshold * maximum)
        else:
            # Nothing exceeds a fraction of a non-positive maximum: no sites.
            sequence, position = np.empty(0, int), np.empty(0, int)
        start = position - left
        inside = (start >= 0) & (start + window <= length)
        sequence, start = sequence[inside], start[inside]
        counts = np.zeros((window, 4), dtype=np.float64)
        for offset in range(window):
            counts[offset] = X[sequence, start + offset].sum(axis=0)
        totals = counts.sum(axis=1, keepdims=True)
        # Columns with no observed base (no sites, or only N) are uniform.
        pwm = np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), 0.25)
        filters.append(FilterMotif(index, pwm, int(sequence.size), maximum))
    return FilterAlignment(tuple(filters), scans, threshold, window)


# --------------------------------------------------------------------------- logos


def _logo_figure(matrix: np.ndarray, *, title: str | None, bits: bool):
    """A matplotlib Figure with one logomaker logo of ``matrix`` (L, 4), columns A, C, G, T.

    ``bits``: an information-content axis (:func:`bits_axis`: 0 to 2 bits, whole-bit
    ticks); otherwise an "attribution" axis with matplotlib's ticks. The caller saves and
    closes the figure.
    """
    import logomaker
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import pandas as pd

    frame = pd.DataFrame(matrix, columns=list("ACGT"))
    width = max(2.5, 0.28 * matrix.shape[0] + 1.0)
    figure, axis = plt.subplots(figsize=(min(width, 24), 1.8))
    try:
        logomaker.Logo(frame, ax=axis, color_scheme="classic")
        if bits:
            bits_axis(axis)
        else:
            axis.set_ylabel("attribution")
        if title:
            axis.set_title(title, fontsize=9)
        axis.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
    except BaseException:
        plt.close(figure)
        raise
    return figure


def _save_figure(figure, path: str | os.PathLike) -> None:
    """Write ``figure`` as PNG (100 dpi) and close it, also when writing fails."""
    import matplotlib.pyplot as plt

    try:
        figure.savefig(path, dpi=100, format="png")
    finally:
        plt.close(figure)


def bits_axis(axis, *, ylim: tuple[float, float] | None = (0.0, 2.0)) -> None:
    """Make ``axis`` an information-content axis: labelled "bits", ticks at whole bits only.

    matplotlib's default locator ticks at fractions of a bit (0.0, 0.5, ... 2.0 on a 0-2 bit
    axis); a bit is the unit of a logo, so the ticks sit at integers (0, 1, 2 for DNA),
    labelled without decimals, whatever the limits.

    Parameters
    ----------
    axis : matplotlib.axes.Axes
    ylim : (float, float) or None, default (0, 2)
        Y limits in bits (2 = log2 of 4 bases, the most a DNA column holds); None keeps
        the axis's limits.
    """
    from matplotlib.ticker import MaxNLocator, StrMethodFormatter

    class WholeBits(MaxNLocator):
        # integer=True alone falls back to fractional ticks when the limits hold fewer than
        # min_n_ticks integers; those are dropped here, so an axis never shows 0.5 bits.
        def tick_values(self, vmin, vmax):
            ticks = super().tick_values(vmin, vmax)
            return ticks[np.isclose(ticks, np.round(ticks))]

    if ylim is not None:
        axis.set_ylim(*ylim)
    axis.yaxis.set_major_locator(WholeBits(integer=True, steps=[1, 2, 5, 10], min_n_ticks=1))
    axis.yaxis.set_major_formatter(StrMethodFormatter("{x:.0f}"))
    axis.set_ylabel("bits")


def information_matrix(pwm: np.ndarray) -> np.ndarray:
    """Letter heights of an information-content logo.

    Parameters
    ----------
    pwm : np.ndarray, shape (W, 4)
        Probabilities (rows sum to 1).

    Returns
    -------
    np.ndarray, shape (W, 4)
        p × IC of the column, IC = 2 + Σ p log2 p bits (uniform background;
        :func:`motiflens.motifs.information_content`).
    """
    pwm = np.asarray(pwm, dtype=np.float64)
    return pwm * information_content(pwm)[..., None]


def pwm_logo_figure(pwm: np.ndarray, *, title: str | None = None):
    """A sequence logo of a PWM (W, 4) as a matplotlib Figure (close it when done).

    Letter heights in bits (:func:`information_matrix`); y axis 0 to 2 bits, ticked at
    0, 1, 2 (:func:`bits_axis`).
    """
    pwm = np.asarray(pwm, dtype=np.float64)
    if pwm.ndim != 2 or pwm.shape[1] != 4:
        raise InvalidInputError(f"pwm: expected shape (W, 4), got {pwm.shape}", field="pwm")
    return _logo_figure(information_matrix(pwm), title=title, bits=True)


def pwm_logo(pwm: np.ndarray, path: str | os.PathLike, *, title: str | None = None) -> None:
    """Write a sequence logo of a PWM (W, 4) as PNG: heights in bits, y ticks at 0, 1, 2 bits."""
    _save_figure(pwm_logo_figure(pwm, title=title), path)


def attribution_logo(scores: np.ndarray, path: str | os.PathLike, *, title: str | None = None) -> None:
    """Write a logo of one attribution map (L, 4) as PNG; letter heights are the scores.

    Typically ``scores = attribution[n] * X[n]`` (grad × input) so that only the
    observed base shows, positive up and negative down.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] != 4:
        raise InvalidInputError(f"scores: expected shape (L, 4), got {scores.shape}", field="scores")
    _save_figure(_logo_figure(scores, title=title, bits=False), path)
