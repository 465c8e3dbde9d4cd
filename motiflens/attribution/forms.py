"""The forms an attribution map takes, as the field's tools expect them.

Every method of :mod:`motiflens.attribution` returns three (N, L, 4) maps:

- ``scores``: the method's own definition (saliency: the gradient, or gradient ×
  input; ISM: Δ output per substitution; integrated gradients and DeepSHAP:
  multipliers ⊙ (x - r) averaged over references, non-zero at a reference's base
  where it differs from x).
- ``hypothetical``: the contribution base b *would* make at position p if it were
  there, with the rest of x unchanged — what TF-MoDISco and tangermeme call
  hypothetical contributions. For a multiplier m (a gradient, a path-averaged
  gradient or DeepLIFT multipliers) and a reference r it is
  ``m[p, b] - Σ_b' m[p, b'] r[p, b']`` averaged over references
  (:func:`hypothetical_contributions`); for saliency (no reference, r = 0) it is
  the gradient; for ISM it is the per-position mean-centred Δ map
  (:func:`mean_centre`), the usual way of feeding ISM to TF-MoDISco.
- ``projected``: hypothetical × one-hot (:func:`project`), non-zero only at the
  bases of x. For one-hot x and one-hot references, the projected map of
  integrated gradients or DeepSHAP sums to the same total as ``scores``
  (Σ_b m (x - r) = m[x] - m[r] per position), so DeepSHAP completeness holds for it.

Gradient correction (Majdandzic, Rajesh & Koo 2023): one-hot inputs lie on the
simplex Σ_b x[p, b] = 1, so the gradient component along (1, 1, 1, 1) at each
position points off the data and carries no information about which base is
preferred. :func:`correct_gradient` subtracts the per-position mean over the four
bases, leaving the component in the simplex's tangent space. It changes no
difference between bases, so ISM-style comparisons and the hypothetical
contributions against one-hot references are unchanged; on a model linear in x
the corrected gradient equals the mean-centred ISM map exactly.
:func:`off_simplex_fraction` measures how much of a gradient's squared norm the
correction removes.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "correct_gradient",
    "hypothetical_contributions",
    "mean_centre",
    "off_simplex_fraction",
    "project",
]


def correct_gradient(gradient: np.ndarray) -> np.ndarray:
    """Subtract the per-position mean over the four bases (the off-simplex component).

    Parameters
    ----------
    gradient : np.ndarray, shape (..., L, 4)

    Returns
    -------
    np.ndarray, same shape and dtype; each position's four values sum to 0.
    """
    return gradient - gradient.mean(axis=-1, keepdims=True)


def mean_centre(scores: np.ndarray) -> np.ndarray:
    """Per-position mean-centred map (ISM's hypothetical form); shape (..., L, 4) kept."""
    return scores - scores.mean(axis=-1, keepdims=True)


def hypothetical_contributions(multipliers: np.ndarray, references: np.ndarray) -> np.ndarray:
    """m[p, b] - Σ_b' m[p, b'] r[p, b']: the contribution of base b at p against reference r.

    Parameters
    ----------
    multipliers : np.ndarray, shape (U, L, 4)
        Gradients, path-averaged gradients or DeepLIFT multipliers, one row per reference.
    references : np.ndarray, shape (U, L, 4)
        The references they were taken against.

    Returns
    -------
    np.ndarray, shape (U, L, 4)
        Equal to multipliers ⊙ (e_b - r) summed over bases, for e_b the one-hot of base b.
    """
    return multipliers - (multipliers * references).sum(axis=-1, keepdims=True)


def project(hypothetical: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Hypothetical × one-hot: the contributions of the bases actually in X; shape (N, L, 4)."""
    return (hypothetical * X).astype(np.float32, copy=False)


def off_simplex_fraction(gradient: np.ndarray) -> np.ndarray:
    """Share of each map's squared norm in the off-simplex component (what correction removes).

    Parameters
    ----------
    gradient : np.ndarray, shape (N, L, 4)

    Returns
    -------
    np.ndarray, shape (N,), float64, in [0, 1]
        Σ_p 4 mean_p² / Σ_{p,b} g[p, b]²; 0 for an all-zero map. 0.25 is what an
        isotropic random gradient gives; near 1, the map mostly says "any base here".
    """
    gradient = np.asarray(gradient, dtype=np.float64)
    total = (gradient**2).sum(axis=(-2, -1))
    off = 4.0 * (gradient.mean(axis=-1) ** 2).sum(axis=-1)
    return np.divide(off, total, out=np.zeros_like(total), where=total > 0)
