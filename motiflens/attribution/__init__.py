"""Attribution maps for the model zoo: saliency, in-silico mutagenesis, integrated gradients, DeepSHAP.

Every method takes a Keras functional model with one input of shape (N, L, 4)
(one-hot DNA, A, C, G, T) and scores one output unit, ``target`` (default 0):
its logit (``output="logit"``, the input of the layer named ``logits``; the
default, better behaved than the saturating sigmoid) or its sigmoid probability
(``output="probability"``, the model's output, as the authors used). Everything
runs in inference mode (``training=False``): dropout is off and batch
normalisation uses its moving statistics.

One API for all methods
-----------------------
Each method returns an :class:`Attribution`: ``scores`` (N, L, 4) float32 (the
method's own definition), ``hypothetical`` and ``projected`` (N, L, 4) float32 (the
forms TF-MoDISco and tangermeme expect; :mod:`motiflens.attribution.forms`), plus
the settings that made it (method, target, output, number of references and
steps, reference kind, seed; None where a setting does not apply).
``np.asarray(result)`` gives the scores. :func:`attribute` dispatches by name
and rejects unknown methods or options. ``batch_size`` bounds memory everywhere:
it is the number of model evaluations (rows) in one forward/backward pass
(mutants for ISM; each DeepSHAP pair counts as two rows). Each call traces its
passes into a TensorFlow graph once (a fraction of a second), then runs every
batch through it. Integrated gradients and DeepSHAP never hold more than a few
passes' worth of references and path points, whatever the number of sequences,
references and steps: references are drawn in blocks and the path points of a
block are built one pass at a time. Every method takes ``should_stop``, a
callable asked before each pass; when it returns True the method raises
:class:`motiflens.errors.CancelledError` (a service passes "the caller went
away or its deadline passed").

Methods
-------
- :func:`saliency`: d output / d input; ``times_input=True`` gives grad × input.
  Saliency, integrated gradients and DeepSHAP take ``gradient_correction=True``:
  subtract the per-position mean over bases from the gradient or multipliers
  (Majdandzic et al. 2023), removing the component that points off the simplex.
- :func:`ism` (fast) and :func:`ism_naive`: in-silico mutagenesis. Entry
  ``[n, p, b]`` is f(x with position p set to base b) - f(x); it is exactly 0
  where x[n, p] already is base b. A position that is not one-hot (an N column)
  gets all four substitutions. :func:`ism_l2_norm` is the paper's per-position
  reduction (N, L).
- :func:`integrated_gradients`: mean over references r of
  (x - r) ⊙ ∫ grad f(r + α(x - r)) dα, the integral by the midpoint rule with
  ``num_steps`` points α = (k + 1/2) / num_steps. The midpoint rule uses exactly
  ``num_steps`` gradients and, like the trapezoid rule, has O(1/num_steps²)
  error on a smooth path; relu and max-pool switches along the path make it
  O(1/num_steps) (0.3-2% of the logit scale at 20 steps on the zoo). The
  multiplier is (x - r), the standard definition (Sundararajan et
  al. 2017), not x as the paper's text says: only (x - r) makes the scores sum
  to f(x) - mean f(r) (completeness). For one-hot x and a shuffled r, (x - r) is
  +1 at x's base and -1 at r's base where the two differ, and 0 where they agree.
- :func:`deepshap`: DeepLIFT with the rescale rule (Shrikumar et al. 2017)
  averaged over references, as shap's DeepExplainer does, written in
  TensorFlow (DeepExplainer does not support Keras 3). Completeness holds
  exactly up to float rounding: the scores sum to f(x) - mean f(r).

References (integrated gradients, DeepSHAP)
-------------------------------------------
``reference="shuffle"`` (the paper): a random permutation of the positions of x
per reference; ``reference="dinucleotide"``: a dinucleotide shuffle
(:func:`motiflens.sequences.dinucleotide_shuffle`, needs hard one-hot input).
The references of sequence i come from a generator seeded with ``(seed, i)``, so
they do not depend on ``batch_size``; :func:`make_references` returns them.

Modules
-------
``_graph`` (validation, the model graph, compiled passes, :class:`Attribution`),
``forms`` (hypothetical and projected maps, gradient correction), ``references``,
``saliency``, ``ism``, ``integrated_gradients``, ``deepshap``; each method's module
docstring describes how it works. Every public name is importable from here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import keras
import numpy as np

from motiflens.attribution._graph import (
    DEFAULT_BATCH_SIZE,
    OUTPUTS,
    REFERENCES,
    Attribution,
    Output,
    Reference,
    StopCheck,
)
from motiflens.attribution.deepshap import deepshap
from motiflens.attribution.forms import (
    correct_gradient,
    hypothetical_contributions,
    mean_centre,
    off_simplex_fraction,
    project,
)
from motiflens.attribution.integrated_gradients import integrated_gradients
from motiflens.attribution.ism import ism, ism_l2_norm, ism_naive
from motiflens.attribution.references import _reference_blocks as _reference_blocks
from motiflens.attribution.references import make_references
from motiflens.attribution.saliency import saliency
from motiflens.errors import InvalidInputError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "METHODS",
    "OUTPUTS",
    "REFERENCES",
    "Attribution",
    "Output",
    "Reference",
    "StopCheck",
    "attribute",
    "correct_gradient",
    "deepshap",
    "hypothetical_contributions",
    "integrated_gradients",
    "ism",
    "ism_l2_norm",
    "ism_naive",
    "make_references",
    "mean_centre",
    "off_simplex_fraction",
    "project",
    "saliency",
]


#: Method name -> function; what :func:`attribute` accepts.
METHODS: dict[str, Callable[..., Attribution]] = {
    "saliency": saliency,
    "ism": ism,
    "ism_naive": ism_naive,
    "integrated_gradients": integrated_gradients,
    "deepshap": deepshap,
}


def attribute(model: keras.Model, X: np.ndarray, method: str = "saliency", **options) -> Attribution:
    """Run one attribution method by name.

    Parameters
    ----------
    model : keras.Model
        A functional model with input (N, L, 4).
    X : np.ndarray, shape (N, L, 4), float32
        One-hot DNA.
    method : str, default "saliency"
        A key of :data:`METHODS`: saliency, ism, ism_naive, integrated_gradients, deepshap.
    **options
        Keyword options of that method (e.g. ``target``, ``output``, ``batch_size``).

    Returns
    -------
    Attribution
        ``scores`` (N, L, 4) float32 and the settings used.

    Raises
    ------
    InvalidInputError
        Unknown method or option (the message lists the accepted ones), or any
        error of the method itself.
    """
    if method not in METHODS:
        raise InvalidInputError(
            f"method: unknown name {method!r}; accepted: {', '.join(METHODS)}", field="method"
        )
    function = METHODS[method]
    accepted = [
        name
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InvalidInputError(
            f"{method}: unknown option(s) {', '.join(unknown)}; accepted: {', '.join(accepted)}"
        )
    return function(model, X, **options)
