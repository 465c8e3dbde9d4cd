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
Each method returns an :class:`Attribution`: ``scores`` (N, L, 4) float32 plus
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

Fast ISM
--------
A substitution at position p changes a tensor only inside a window around p.
:func:`ism` walks the functional graph in call order, tracks that window for
every tensor (a 'same' convolution of width k widens it by its padding on each
side, pooling maps it through its pool size and stride, elementwise layers keep
it, ``Add``-like merges take the union) and recomputes only the window:

- A first-layer convolution reading the input directly is linear in the input,
  so its mutant output is the cached wild-type output plus
  (e_b - x[p]) · kernel[p - j + pad] at each output position j of the window.
- A convolution (stride 1) or a 'valid' pooling layer slices the cached
  wild-type input around the window with the halo its kernel needs (zeros
  beyond the ends, as 'same' padding has), splices the mutant's input window
  into it, and runs 'valid' on the slice.
- Elementwise layers (batch norm, activations, dropout, Dense on a sequence)
  run the layer's own call on the window; merges splice every input into the
  output window first.
- Any other layer (Flatten, Dense after it, global pooling, strided or grouped
  convolutions, 'same' pooling, nested models, anything unknown) gets its inputs
  spliced into full wild-type tensors and runs normally: from there on the
  computation is the naive one. Windows are fixed-width (the widest over all
  positions, clamped at the sequence ends), so each layer is one batched call.

The saving is the ratio of window to sequence length, layer by layer: for
CNN-deep on 200 nt the multiply-adds per mutant drop about 4x (the deep layers'
windows cover most of their short inputs), on 1000 nt about 10x or more.

DeepSHAP rules
--------------
A joint forward pass over [x; r] walks the graph; layers that are linear in
inference (convolutions and Dense without a nonlinear fused activation, batch
normalisation, dropout, Add/Subtract/Average/Concatenate, Flatten, Reshape,
average pooling) use their ordinary gradient, which is their DeepLIFT
multiplier. Elementwise nonlinearities (every activation of
motiflens.activations, relu and the other Keras activations, the output
sigmoid) get the rescale multiplier (f(x) - f(r)) / (x - r), or f'(x) where
|x - r| < 1e-6, through ``tf.custom_gradient``. Max pooling uses shap's rule:
the pooled difference f(x) - f(r) is split into max(f(x), f(r)) - f(r),
routed to x's argmax, and f(x) - max(f(x), f(r)), routed to r's argmax, then
divided by x - r at each input, which keeps completeness. The multipliers of
x times (x - r), averaged over references, are the scores. A layer with no rule
raises InvalidInputError.
"""

from __future__ import annotations

import inspect
import operator
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import keras
import numpy as np
import tensorflow as tf

from motiflens.activations import FirstLayerActivation
from motiflens.errors import CancelledError, InvalidInputError
from motiflens.models import LOGITS_LAYER
from motiflens.sequences import dinucleotide_shuffle

Output = Literal["logit", "probability"]
Reference = Literal["shuffle", "dinucleotide"]
#: ``should_stop()`` -> True once the caller no longer wants the result (asked between passes).
StopCheck = Callable[[], bool]

OUTPUTS = ("logit", "probability")
REFERENCES = ("shuffle", "dinucleotide")
DEFAULT_BATCH_SIZE = 256

# Below this |x - r| the rescale multiplier is replaced by the gradient: the secant
# is then numerically meaningless, and the term it multiplies is negligible anyway.
_RESCALE_EPS = 1e-6
_EYE = np.eye(4, dtype=np.float32)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class Attribution:
    """Attribution scores and the settings that produced them.

    Attributes
    ----------
    scores : np.ndarray, shape (N, L, 4), float32
        One score per sequence, position and base (A, C, G, T).
    method : str
        "saliency", "ism", "ism_naive", "integrated_gradients" or "deepshap".
    target : int
        Output unit scored.
    output : str
        "logit" or "probability".
    num_references : int or None
        References averaged over (integrated gradients, DeepSHAP), else None.
    num_steps : int or None
        Integration steps (integrated gradients), else None.
    reference : str or None
        "shuffle" or "dinucleotide" where references are used, else None.
    seed : int or None
        Seed of the references, else None.
    times_input : bool
        Saliency only: whether the gradient was multiplied by the input.
    """

    scores: np.ndarray
    method: str
    target: int
    output: str
    num_references: int | None = None
    num_steps: int | None = None
    reference: str | None = None
    seed: int | None = None
    times_input: bool = False

    def __array__(self, dtype=None, copy=None):
        """The scores, so that ``np.asarray(attribution)`` works."""
        return self.scores if dtype is None else self.scores.astype(dtype)


# --------------------------------------------------------------------------- validation


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool):
        raise InvalidInputError(f"{name}: expected an integer >= 1, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise InvalidInputError(f"{name}: expected an integer >= 1, got {value!r}") from None
    if value < 1:
        raise InvalidInputError(f"{name}: expected an integer >= 1, got {value}")
    return value


def _check_choice(value, name: str, accepted: tuple[str, ...]) -> str:
    if value not in accepted:
        raise InvalidInputError(f"{name}: unknown value {value!r}; accepted: {', '.join(accepted)}")
    return value


def _check_seed(seed) -> int:
    if isinstance(seed, bool):
        raise InvalidInputError(f"seed: expected an integer >= 0, got {seed!r}")
    try:
        seed = operator.index(seed)
    except TypeError:
        raise InvalidInputError(f"seed: expected an integer >= 0, got {seed!r}") from None
    if seed < 0:
        raise InvalidInputError(f"seed: expected an integer >= 0, got {seed}")
    return seed


def _check_offset(index_offset) -> int:
    if isinstance(index_offset, bool) or not isinstance(index_offset, (int, np.integer)) or index_offset < 0:
        raise InvalidInputError(f"index_offset: expected an integer >= 0, got {index_offset!r}")
    return int(index_offset)


def _check_X(X, length: int | None) -> np.ndarray:
    try:
        X = np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidInputError("X: expected a numeric array of shape (N, L, 4)") from None
    if X.ndim != 3 or X.shape[-1] != 4:
        raise InvalidInputError(f"X: expected shape (N, L, 4) (one-hot A, C, G, T), got {X.shape}")
    if X.shape[0] == 0:
        raise InvalidInputError("X: empty batch (N = 0); expected at least one sequence")
    if length is not None and X.shape[1] != length:
        raise InvalidInputError(f"X: expected length {length} (the model's input length), got {X.shape[1]}")
    if not np.isfinite(X).all():
        raise InvalidInputError("X: contains NaN or infinite values; expected one-hot DNA")
    return X


def _check_target(target, num_outputs: int) -> int:
    if isinstance(target, bool):
        raise InvalidInputError(f"target: expected an integer in [0, {num_outputs}), got {target!r}")
    try:
        target = operator.index(target)
    except TypeError:
        raise InvalidInputError(
            f"target: expected an integer in [0, {num_outputs}), got {target!r}"
        ) from None
    if not 0 <= target < num_outputs:
        raise InvalidInputError(
            f"target: expected an integer in [0, {num_outputs}) (the model has {num_outputs} outputs), "
            f"got {target}"
        )
    return target


# --------------------------------------------------------------------------- the graph


def _target_tensor(model: keras.Model, output: str):
    if output == "probability":
        if len(model.outputs) != 1:
            raise InvalidInputError(f"model: expected one output tensor, got {len(model.outputs)}")
        return model.outputs[0]
    try:
        return model.get_layer(LOGITS_LAYER).output
    except ValueError:
        raise InvalidInputError(
            f"output: 'logit' needs a layer named {LOGITS_LAYER!r} (as the model zoo has); "
            "use output='probability' to score the model's output"
        ) from None


def _nodes_between(input_tensor, output_tensor) -> list:
    """Call nodes that compute ``output_tensor`` from ``input_tensor``, parents before children."""
    order: list = []
    seen: set[int] = set()

    def visit(tensor) -> None:
        history = tensor._keras_history
        node = history.operation._inbound_nodes[history.node_index]
        if id(node) in seen:
            return
        seen.add(id(node))
        if node.is_input:
            if tensor is not input_tensor:
                raise InvalidInputError(
                    "model: the scored output depends on an input other than the sequence"
                )
            return
        for parent in node.input_tensors:
            visit(parent)
        order.append(node)

    visit(output_tensor)
    return order


def _call_node(node, values: dict):
    """Run one node's layer on the values of its inputs, in inference mode."""
    args, kwargs = node.arguments.fill_in(values)
    if isinstance(node.operation, keras.layers.Layer):
        kwargs = {**kwargs, "training": False}
    return node.operation(*args, **kwargs)


class _Graph:
    """The part of a functional model from its one-hot input to one output tensor, in call order."""

    def __init__(self, model: keras.Model, output: str):
        if not isinstance(model, keras.Model) or not getattr(model, "inputs", None):
            raise InvalidInputError(f"model: expected a Keras functional model, got {type(model).__name__}")
        if len(model.inputs) != 1:
            raise InvalidInputError(f"model: expected one input (N, L, 4), got {len(model.inputs)} inputs")
        self.input = model.inputs[0]
        shape = tuple(self.input.shape)
        if len(shape) != 3 or shape[-1] != 4:
            raise InvalidInputError(f"model: expected an input of shape (N, L, 4), got {shape}")
        self.input_length: int | None = shape[1]
        self.output = _target_tensor(model, output)
        if len(self.output.shape) != 2:
            raise InvalidInputError(
                f"model: expected a scored output of shape (N, T), got {self.output.shape}"
            )
        self.num_outputs: int = self.output.shape[-1]
        self.nodes = _nodes_between(self.input, self.output)

    def forward(self, x, call: Callable = _call_node, keep: bool = False):
        """Run the graph on ``x``; return the output, or every tensor's value by id with ``keep``."""
        values = {id(self.input): x}
        for node in self.nodes:
            outputs = call(node, values)
            for tensor, value in zip(node.outputs, keras.tree.flatten(outputs), strict=True):
                values[id(tensor)] = value
        return values if keep else values[id(self.output)]


def _prepare(model, X, target, output, batch_size) -> tuple[_Graph, np.ndarray, int]:
    _check_choice(output, "output", OUTPUTS)
    _check_positive_int(batch_size, "batch_size")
    graph = _Graph(model, output)
    X = _check_X(X, graph.input_length)
    target = _check_target(target, graph.num_outputs)
    return graph, X, target


def _groups(num_sequences: int, rows_per_sequence: int, batch_size: int) -> Iterator[slice]:
    """Slices of sequences whose rows fill about one pass (at least one sequence each)."""
    size = max(1, batch_size // rows_per_sequence)
    for start in range(0, num_sequences, size):
        yield slice(start, min(start + size, num_sequences))


def _compile(function: Callable, *signature: tf.TensorSpec | list) -> Callable:
    """``function`` as a TensorFlow graph for arguments of ``signature`` (batch axis unknown).

    Traced once per public call: the signature leaves the batch size open, so the
    last, smaller batch reuses the trace. Eager execution would spend more time in
    Python dispatch than in the small windowed operations of fast ISM.
    """
    return tf.function(function, input_signature=list(signature), autograph=False)


class _CompiledFunctions:
    """Compiled attribution graphs of one model, by (method part, output, target, ...).

    Tracing a graph costs 0.3-0.5 s, far more than attributing a few sequences, so a
    service calling the same model repeatedly must not trace again. The cache lives
    on the model object (no module state) and dies with it.
    """

    def __init__(self):
        self._functions: dict[tuple, Callable] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple, build: Callable[[], Callable]) -> Callable:
        with self._lock:
            if key not in self._functions:
                self._functions[key] = build()
            return self._functions[key]


def _compiled(model: keras.Model, key: tuple, build: Callable[[], Callable]) -> Callable:
    """The compiled function ``key`` of ``model``, built by ``build()`` on first use."""
    cache = model.__dict__.get("_motiflens_compiled")
    if cache is None:
        cache = _CompiledFunctions()
        # object.__setattr__ bypasses Keras' attribute tracking of the model.
        object.__setattr__(model, "_motiflens_compiled", cache)
    return cache.get(key, build)


def _batch_spec(length: int) -> tf.TensorSpec:
    return tf.TensorSpec((None, length, 4), tf.float32)


def _gradient_function(graph: _Graph, target: int) -> Callable:
    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = graph.forward(x)[:, target]
        # Rows are independent in inference mode, so the gradient of the sum is per row.
        return tape.gradient(y, x)

    return _compile(gradient, _batch_spec(graph.input_length))


def _check_stop(should_stop: StopCheck | None, what: str) -> None:
    """Raise CancelledError if ``should_stop()`` says the caller no longer wants the result."""
    if should_stop is not None and should_stop():
        raise CancelledError(f"{what}: abandoned, the caller cancelled or its deadline passed")


def _gradients(
    gradient: Callable, rows: np.ndarray, batch_size: int, should_stop: StopCheck | None = None
) -> np.ndarray:
    """Gradient of the scored output with respect to every row, ``batch_size`` rows per pass."""
    out = np.empty(rows.shape, dtype=np.float32)
    for start in range(0, len(rows), batch_size):
        _check_stop(should_stop, f"attribution after {start} of {len(rows)} rows")
        out[start : start + batch_size] = gradient(tf.constant(rows[start : start + batch_size])).numpy()
    return out


def _predict(
    forward: Callable, rows: np.ndarray, batch_size: int, should_stop: StopCheck | None = None
) -> np.ndarray:
    outputs = []
    for start in range(0, len(rows), batch_size):
        _check_stop(should_stop, f"attribution after {start} of {len(rows)} rows")
        outputs.append(np.asarray(forward(tf.constant(rows[start : start + batch_size]))))
    return np.concatenate(outputs)


def _sum_by(index: np.ndarray, values: np.ndarray, out: np.ndarray) -> None:
    """``out[index[k]] += values[k]`` for every k, ``index`` non-decreasing (runs summed first)."""
    firsts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    out[index[firsts]] += np.add.reduceat(values, firsts, axis=0)


# --------------------------------------------------------------------------- references


def _draw(x: np.ndarray, rng: np.random.Generator, count: int, reference: str) -> np.ndarray:
    """The next ``count`` references of one sequence x (L, 4) from its generator; (count, L, 4)."""
    if reference == "shuffle":
        return np.stack([x[rng.permutation(x.shape[0])] for _ in range(count)]).astype(np.float32)
    # dinucleotide_shuffle draws shuffle after shuffle from rng, so blocks continue one stream.
    return dinucleotide_shuffle(x[None], num_shuffles=count, seed=rng)[0].astype(np.float32)


def _references(
    X: np.ndarray, first_index: int, num_references: int, reference: str, seed: int
) -> np.ndarray:
    """References of X[i] drawn from a generator seeded (seed, first_index + i); (N, R, L, 4)."""
    out = np.empty((X.shape[0], num_references, *X.shape[1:]), dtype=np.float32)
    for i, x in enumerate(X):
        out[i] = _draw(x, np.random.default_rng([seed, first_index + i]), num_references, reference)
    return out


def _reference_blocks(
    X: np.ndarray, first_index: int, num_references: int, reference: str, seed: int, block: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The references of :func:`_references` in blocks of at most ``block``, never all at once.

    Yields (sequence index into X, shape (U,); references, shape (U, L, 4)), U <= block,
    sequence-major: X[0]'s references first. Each sequence's generator is consumed in
    order, so the references are exactly those of :func:`_references`.
    """
    indices: list[np.ndarray] = []
    parts: list[np.ndarray] = []
    size = 0
    for i, x in enumerate(X):
        rng = np.random.default_rng([seed, first_index + i])
        left = num_references
        while left:
            count = min(left, block - size)
            parts.append(_draw(x, rng, count, reference))
            indices.append(np.full(count, i))
            size, left = size + count, left - count
            if size == block:
                yield np.concatenate(indices), np.concatenate(parts)
                indices, parts, size = [], [], 0
    if size:
        yield np.concatenate(indices), np.concatenate(parts)


def make_references(
    X: np.ndarray,
    *,
    num_references: int = 10,
    reference: Reference = "shuffle",
    seed: int = 0,
    index_offset: int = 0,
) -> np.ndarray:
    """The references that integrated gradients and DeepSHAP use for X.

    Parameters
    ----------
    X : np.ndarray, shape (N, L, 4), float32
        One-hot DNA.
    num_references : int, default 10
        References per sequence.
    reference : {"shuffle", "dinucleotide"}, default "shuffle"
        Random permutation of positions (the paper), or a dinucleotide shuffle
        (keeps dinucleotide counts; needs hard one-hot columns or all-zero N).
    seed : int, default 0
        Sequence i's references come from a generator seeded with (seed, i).

    index_offset : int, default 0
        X[i] is treated as sequence ``index_offset + i`` for seeding.

    Returns
    -------
    np.ndarray, shape (N, num_references, L, 4), float32

    Raises
    ------
    InvalidInputError
        Bad shape, bad counts, unknown reference kind or negative seed.
    """
    X = _check_X(X, None)
    num_references = _check_positive_int(num_references, "num_references")
    _check_choice(reference, "reference", REFERENCES)
    return _references(X, _check_offset(index_offset), num_references, reference, _check_seed(seed))


# --------------------------------------------------------------------------- saliency


def saliency(
    model: keras.Model,
    X: np.ndarray,
    *,
    target: int = 0,
    output: Output = "logit",
    times_input: bool = False,
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
    batch_size : int, default 256
        Sequences per forward/backward pass.
    should_stop : callable, optional
        Asked before each pass; True abandons the work (CancelledError).

    Returns
    -------
    Attribution
        ``scores`` (N, L, 4) float32.

    Raises
    ------
    InvalidInputError
        Bad X shape or length, empty batch, target out of range, bad option.
    CancelledError
        ``should_stop()`` returned True.
    """
    graph, X, target = _prepare(model, X, target, output, batch_size)
    gradient = _compiled(model, ("gradient", output, target), lambda: _gradient_function(graph, target))
    scores = _gradients(gradient, X, batch_size, should_stop)
    if times_input:
        scores = scores * X
    return Attribution(scores, "saliency", target, output, times_input=bool(times_input))


# --------------------------------------------------------------------------- in-silico mutagenesis


def _substitutions(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sequence, position, base) of every substitution that changes X, in that order."""
    is_wild_type = np.all(X[:, :, None, :] == _EYE[None, None], axis=-1)
    return np.nonzero(~is_wild_type)


def _substitution_batches(X: np.ndarray, batch_size: int) -> Iterator[tuple[slice, list]]:
    """Groups of sequences, each with its substitutions split into near-equal batches of <= batch_size.

    A group holds about sixteen passes' worth of substitutions (at least one
    sequence), so that batches may span sequences and few passes run part-full.
    """
    length = X.shape[1]
    for group in _groups(X.shape[0], 3 * length, 16 * batch_size):
        n, p, b = _substitutions(X[group])
        num_batches = max(1, -(-len(n) // batch_size))
        batches = [(n[i], p[i], b[i]) for i in np.array_split(np.arange(len(n)), num_batches)]
        yield group, batches


def ism_l2_norm(scores: np.ndarray | Attribution) -> np.ndarray:
    """The paper's per-position ISM score: the L2 norm of the four substitution effects.

    Parameters
    ----------
    scores : np.ndarray, shape (N, L, 4), or Attribution
        ISM scores (0 at the wild-type base).

    Returns
    -------
    np.ndarray, shape (N, L), float32
    """
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim != 3 or scores.shape[-1] != 4:
        raise InvalidInputError(f"scores: expected shape (N, L, 4), got {scores.shape}")
    return np.linalg.norm(scores, axis=-1).astype(np.float32)


def ism_naive(
    model: keras.Model,
    X: np.ndarray,
    *,
    target: int = 0,
    output: Output = "logit",
    batch_size: int = DEFAULT_BATCH_SIZE,
    should_stop: StopCheck | None = None,
) -> Attribution:
    """In-silico mutagenesis by predicting every single-base mutant in full.

    The reference implementation for :func:`ism`, with the same result.

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
    batch_size : int, default 256
        Mutants per forward pass.
    should_stop : callable, optional
        Asked before each pass; True abandons the work (CancelledError).

    Returns
    -------
    Attribution
        ``scores`` (N, L, 4) float32: f(mutant) - f(x), 0 at the wild-type base.

    Raises
    ------
    InvalidInputError
        Bad X shape or length, empty batch, target out of range, bad option.
    CancelledError
        ``should_stop()`` returned True.
    """
    graph, X, target = _prepare(model, X, target, output, batch_size)
    forward = _compiled(model, ("forward", output), lambda: _compile(graph.forward, _batch_spec(X.shape[1])))
    wild_type = _predict(forward, X, batch_size, should_stop)[:, target]
    scores = np.zeros(X.shape, dtype=np.float32)
    for group, batches in _substitution_batches(X, batch_size):
        for n, p, b in batches:
            _check_stop(should_stop, f"ism_naive at sequence {group.start} of {len(X)}")
            mutants = X[group][n]
            mutants[np.arange(len(n)), p] = _EYE[b]
            y = np.asarray(forward(tf.constant(mutants)))[:, target]
            scores[group.start + n, p, b] = y - wild_type[group.start + n]
    return Attribution(scores, "ism_naive", target, output)


@dataclass(frozen=True)
class _Window:
    """Where a sequence tensor of a mutant may differ from the wild type, per mutated position p.

    ``lo[p]:hi[p]`` is the affected range (empty when lo == hi); ``starts[p]`` is
    the start of the fixed-width window ``width`` recomputed for it.
    """

    length: int
    width: int
    starts: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    @classmethod
    def covering(cls, length: int, lo: np.ndarray, hi: np.ndarray) -> _Window:
        lo, hi = np.clip(lo, 0, length), np.clip(hi, 0, length)
        empty = hi <= lo
        lo, hi = np.where(empty, 0, lo), np.where(empty, 0, hi)
        width = int(min(length, max(1, (hi - lo).max())))
        return cls(length, width, np.clip(lo, 0, length - width), lo, hi)

    @classmethod
    def full(cls, length: int, num_positions: int) -> _Window:
        zeros = np.zeros(num_positions, dtype=np.int64)
        return cls(length, length, zeros, zeros, np.full(num_positions, length))

    @property
    def is_full(self) -> bool:
        return self.width == self.length


# Layers that act on each position separately (in inference mode), so a window maps to itself.
_POSITIONWISE = (
    keras.layers.Activation,
    keras.layers.Dropout,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.Identity,
    keras.layers.Dense,
    FirstLayerActivation,
)
_MERGES = (
    keras.layers.Add,
    keras.layers.Subtract,
    keras.layers.Multiply,
    keras.layers.Average,
    keras.layers.Maximum,
    keras.layers.Minimum,
)
_POOLS = (keras.layers.MaxPooling1D, keras.layers.AveragePooling1D)


def _conv_geometry(layer) -> tuple[int, int] | None:
    """(effective kernel width, left padding) of a windowable Conv1D, else None."""
    if not isinstance(layer, keras.layers.Conv1D) or type(layer).__name__ != "Conv1D":
        return None
    if tuple(layer.strides) != (1,) or layer.groups != 1 or layer.data_format != "channels_last":
        return None
    width = (layer.kernel_size[0] - 1) * layer.dilation_rate[0] + 1
    left = {"same": (width - 1) // 2, "valid": 0, "causal": width - 1}.get(layer.padding)
    return None if left is None else (width, left)


def _is_positionwise(layer) -> bool:
    if isinstance(layer, keras.layers.BatchNormalization):
        return layer.axis in (-1, 2)
    if isinstance(layer, keras.layers.Concatenate):
        return False
    return isinstance(layer, _POSITIONWISE)


def _is_merge(layer) -> bool:
    if isinstance(layer, keras.layers.Concatenate):
        return layer.axis in (-1, 2)
    return isinstance(layer, _MERGES)


@dataclass(frozen=True)
class _Step:
    node: object
    kind: str  # first_conv, conv, pool, positionwise, merge, full


class _WindowPlan:
    """For every node of the graph: how to compute a mutant's output, and its output window."""

    def __init__(self, graph: _Graph, length: int):
        positions = np.arange(length)
        self.windows: dict[int, _Window] = {
            id(graph.input): _Window.covering(length, positions, positions + 1)
        }
        self.steps: list[_Step] = []
        for node in graph.nodes:
            self.steps.append(self._plan(node, graph, length))
        # Tensors whose wild-type values the mutant pass splices from, in a fixed order.
        cached: dict[int, tuple] = {}
        for step in self.steps:
            if step.kind == "first_conv":
                cached[id(step.node.outputs[0])] = tuple(step.node.outputs[0].shape)
            elif step.kind in ("conv", "pool", "merge", "full"):
                cached.update(
                    (id(t), tuple(t.shape)) for t in step.node.input_tensors if id(t) in self.windows
                )
        self.cached: list[int] = list(cached)
        #: TensorSpecs of the cached tensors for any number of sequences.
        self.cached_specs = [tf.TensorSpec((None, *shape[1:]), tf.float32) for shape in cached.values()]

    def _plan(self, node, graph: _Graph, num_positions: int) -> _Step:
        # num_positions: input length, i.e. how many substitution positions each window array covers.
        layer = node.operation
        inputs = node.input_tensors
        windows = [self.windows.get(id(tensor)) for tensor in inputs]
        outputs = node.outputs
        windowed = all(w is not None for w in windows) and len(outputs) == 1 and len(outputs[0].shape) == 3
        kind, window = "full", None
        if windowed and len(inputs) == 1:
            (w,) = windows
            nonempty = w.hi > w.lo
            geometry = _conv_geometry(layer)
            if geometry is not None:
                width, left = geometry
                lo = np.where(nonempty, w.lo + left - (width - 1), 0)
                hi = np.where(nonempty, w.hi + left, 0)
                window = _Window.covering(outputs[0].shape[1], lo, hi)
                first = inputs[0] is graph.input and layer.dilation_rate[0] == 1
                linear = layer.activation in (None, keras.activations.linear)
                kind = "first_conv" if first and linear else "conv"
            elif (
                isinstance(layer, _POOLS)
                and layer.padding == "valid"
                and layer.data_format == "channels_last"
            ):
                size, stride = layer.pool_size[0], layer.strides[0]
                lo = np.where(nonempty, -((size - 1 - w.lo) // stride), 0)
                hi = np.where(nonempty, (w.hi - 1) // stride + 1, 0)
                window = _Window.covering(outputs[0].shape[1], lo, hi)
                kind = "pool"
            elif _is_positionwise(layer):
                window, kind = w, "positionwise"
        elif windowed and _is_merge(layer):
            # An input a substitution cannot reach (empty range) must not pull the union's start down.
            unreachable = np.iinfo(np.int64).max
            lo = np.min([np.where(w.hi > w.lo, w.lo, unreachable) for w in windows], axis=0)
            hi = np.max([w.hi for w in windows], axis=0)
            window = _Window.covering(outputs[0].shape[1], lo, np.maximum(hi, lo))
            kind = "merge"
        if kind == "full" and len(outputs) == 1 and len(outputs[0].shape) == 3:
            # Sequence-shaped output of a layer run in full: every position may differ.
            window = _Window.full(outputs[0].shape[1], num_positions)
        if window is not None:
            self.windows[id(outputs[0])] = window
        return _Step(node, kind)


class _MutantBatch:
    """One batch of mutants pushed through the graph, recomputing only the windows of the plan.

    Only TensorFlow ops on the batch's tensors, so that one ``tf.function`` trace
    serves every batch. ``wild_type`` holds the cached wild-type values of the
    tensors in ``plan.cached`` for the sequences of ``X``; mutant i sets position
    ``p[i]`` of sequence ``n[i]`` to base ``b[i]``.
    """

    def __init__(self, plan: _WindowPlan, graph: _Graph, wild_type: list, X, n, p, b):
        self.plan, self.graph = plan, graph
        self._wild_type = dict(zip(plan.cached, wild_type, strict=True))
        self._padded: dict[tuple[int, int, int], tuple[tf.Tensor, int]] = {}
        self._X, self._n, self._p, self._b = X, n, p, b
        self._row = tf.range(tf.shape(n, out_type=tf.int64)[0])

    def run(self) -> tf.Tensor:
        """The scored output of every mutant, shape (M, T)."""
        values = {id(self.graph.input): tf.one_hot(self._b, 4, dtype=self._X.dtype)[:, None, :]}
        for step in self.plan.steps:
            node = step.node
            values[id(node.outputs[0])] = getattr(self, f"_{step.kind}")(node, values)
        return values[id(self.graph.output)]

    def _start(self, tensor_id: int) -> tf.Tensor:
        return tf.gather(tf.constant(self.plan.windows[tensor_id].starts), self._p)

    def _wild_type_flat(self, tensor_id: int, left: int, right: int) -> tuple[tf.Tensor, int]:
        """Cached wild-type values as rows (G * padded length, C), zero-padded at both ends."""
        key = (tensor_id, left, right)
        if key not in self._padded:
            value = self._wild_type[tensor_id]
            if left or right:
                value = tf.pad(value, [[0, 0], [left, right], [0, 0]])
            self._padded[key] = (tf.reshape(value, [-1, value.shape[-1]]), value.shape[1])
        return self._padded[key]

    def splice(self, values: dict, tensor, positions: tf.Tensor, left: int = 0, right: int = 0) -> tf.Tensor:
        """Mutant values of ``tensor`` at ``positions`` (M, K): its window where known, else wild type.

        Positions down to -left and up to length - 1 + right are allowed (zeros there).
        """
        tensor_id = id(tensor)
        window = self.plan.windows[tensor_id]
        mutant = values[tensor_id]
        if window.is_full and left == right == 0 and positions.shape[1] == window.length:
            return mutant
        wild, padded_length = self._wild_type_flat(tensor_id, left, right)
        # One gather from [wild-type rows; mutant rows]: the index picks the source per position.
        relative = positions - self._start(tensor_id)[:, None]
        inside = (relative >= 0) & (relative < window.width)
        mutant_index = tf.shape(wild, out_type=tf.int64)[0] + self._row[:, None] * window.width + relative
        wild_index = self._n[:, None] * padded_length + positions + left
        rows = tf.concat([wild, tf.reshape(mutant, [-1, mutant.shape[-1]])], axis=0)
        return tf.gather(rows, tf.where(inside, mutant_index, wild_index))

    def _out_positions(self, node) -> tf.Tensor:
        tensor_id = id(node.outputs[0])
        width = self.plan.windows[tensor_id].width
        return self._start(tensor_id)[:, None] + tf.range(width, dtype=tf.int64)

    def _first_conv(self, node, values) -> tf.Tensor:
        # Linear in the input: wild type + (new base - old column) · the kernel row over the position.
        layer = node.operation
        kernel = keras.ops.convert_to_tensor(layer.kernel)
        width, left = _conv_geometry(layer)
        out = self._out_positions(node)
        wild, length = self._wild_type_flat(id(node.outputs[0]), 0, 0)
        base = tf.gather(wild, self._n[:, None] * length + out)
        old = tf.gather_nd(self._X, tf.stack([self._n, self._p], axis=1))
        change = tf.one_hot(self._b, 4, dtype=old.dtype) - old
        per_row = tf.einsum("mc,kcf->mkf", change, kernel)
        rows = self._p[:, None] - out + left
        valid = (rows >= 0) & (rows < width)
        delta = tf.gather(per_row, tf.clip_by_value(rows, 0, width - 1), batch_dims=1)
        return base + tf.where(valid[..., None], delta, tf.zeros_like(delta))

    def _conv(self, node, values) -> tf.Tensor:
        layer = node.operation
        width, left = _conv_geometry(layer)
        out_width = self.plan.windows[id(node.outputs[0])].width
        first = self._start(id(node.outputs[0]))[:, None] - left
        positions = first + tf.range(out_width + width - 1, dtype=tf.int64)
        slab = self.splice(values, node.input_tensors[0], positions, left, width - 1 - left)
        y = keras.ops.conv(slab, layer.kernel, strides=1, padding="valid", dilation_rate=layer.dilation_rate)
        if layer.use_bias:
            y = y + layer.bias
        return y if layer.activation is None else layer.activation(y)

    def _pool(self, node, values) -> tf.Tensor:
        layer = node.operation
        size, stride = layer.pool_size[0], layer.strides[0]
        out_width = self.plan.windows[id(node.outputs[0])].width
        first = self._start(id(node.outputs[0]))[:, None] * stride
        positions = first + tf.range((out_width - 1) * stride + size, dtype=tf.int64)
        return layer(self.splice(values, node.input_tensors[0], positions), training=False)

    def _positionwise(self, node, values) -> tf.Tensor:
        return _call_node(node, values)

    def _merge(self, node, values) -> tf.Tensor:
        out = self._out_positions(node)
        spliced = {id(tensor): self.splice(values, tensor, out) for tensor in node.input_tensors}
        return _call_node(node, spliced)

    def _full(self, node, values) -> tf.Tensor:
        inputs = {}
        for tensor in node.input_tensors:
            window = self.plan.windows.get(id(tensor))
            if window is None:
                inputs[id(tensor)] = values[id(tensor)]
            else:
                positions = tf.zeros_like(self._p)[:, None] + tf.range(window.length, dtype=tf.int64)
                inputs[id(tensor)] = self.splice(values, tensor, positions)
        outputs = keras.tree.flatten(_call_node(node, inputs))
        if len(outputs) != 1:
            raise InvalidInputError(f"ism: layer {node.operation.name!r} has several outputs; expected one")
        return outputs[0]


def _wild_type_function(graph: _Graph, cached: list[int]) -> Callable:
    """The wild-type pass of fast ISM: x -> [output, *values of the cached tensors]."""

    def run(x):
        values = graph.forward(x, keep=True)
        return [values[id(graph.output)], *(values[tensor_id] for tensor_id in cached)]

    return run


def ism(
    model: keras.Model,
    X: np.ndarray,
    *,
    target: int = 0,
    output: Output = "logit",
    batch_size: int = DEFAULT_BATCH_SIZE,
    should_stop: StopCheck | None = None,
) -> Attribution:
    """In-silico mutagenesis, recomputing only what a substitution can change (fast ISM).

    Every single-base substitution is scored: ``scores[n, p, b]`` is
    f(x with position p set to base b) - f(x), exactly 0 where x already has base
    b there (so 3L substitutions per one-hot sequence; an all-zero N column gets
    all four). The result equals :func:`ism_naive` up to float rounding. How the
    windows are tracked, and which layers are run in full instead (any layer this
    module cannot window, e.g. Flatten, strided convolutions, 'same' pooling,
    nested models), is described in the module docstring.

    Parameters
    ----------
    model : keras.Model
        A functional model with input (N, L, 4), e.g. from motiflens.models.
    X : np.ndarray, shape (N, L, 4), float32
        One-hot DNA, L the model's input length, N >= 1.
    target : int, default 0
        Output unit scored.
    output : {"logit", "probability"}, default "logit"
        Score the logit or the sigmoid output.
    batch_size : int, default 256
        Mutants per pass.
    should_stop : callable, optional
        Asked before each pass; True abandons the work (CancelledError).

    Returns
    -------
    Attribution
        ``scores`` (N, L, 4) float32; reduce per position with :func:`ism_l2_norm`.

    Raises
    ------
    InvalidInputError
        Bad X shape or length, empty batch, target out of range, bad option.
    CancelledError
        ``should_stop()`` returned True.
    """
    graph, X, target = _prepare(model, X, target, output, batch_size)
    length = X.shape[1]

    def build_passes():
        plan = _WindowPlan(graph, length)
        index = tf.TensorSpec((None,), tf.int64)
        wild_type_pass = _compile(_wild_type_function(graph, plan.cached), _batch_spec(length))
        mutant_pass = _compile(
            lambda *batch: _MutantBatch(plan, graph, *batch).run(),
            plan.cached_specs,
            _batch_spec(length),
            index,
            index,
            index,
        )
        return wild_type_pass, mutant_pass

    wild_type_pass, mutant_pass = _compiled(model, ("ism", output), build_passes)
    scores = np.zeros(X.shape, dtype=np.float32)
    for group, batches in _substitution_batches(X, batch_size):
        _check_stop(should_stop, f"ism at sequence {group.start} of {len(X)}")
        X_group = tf.constant(X[group])
        reference, *wild_type = wild_type_pass(X_group)
        reference = np.asarray(reference)[:, target]
        for n, p, b in batches:
            _check_stop(should_stop, f"ism at sequence {group.start} of {len(X)}")
            y = mutant_pass(wild_type, X_group, tf.constant(n), tf.constant(p), tf.constant(b))
            scores[group.start + n, p, b] = np.asarray(y)[:, target] - reference[n]
    return Attribution(scores, "ism", target, output)


# --------------------------------------------------------------------------- integrated gradients


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
    batch_size : int, default 256
        Path points (model evaluations) per forward/backward pass. Memory is a few
        passes' worth (references and path points are made one block at a time),
        whatever ``num_steps`` and ``num_references`` are.
    should_stop : callable, optional
        Asked before each pass; True abandons the work (CancelledError).

    Returns
    -------
    Attribution
        ``scores`` (N, L, 4) float32.

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
    for group in _groups(X.shape[0], num_references, block):
        X_group = X[group]
        total = np.zeros(X_group.shape, dtype=np.float64)
        blocks = _reference_blocks(X_group, offset + group.start, num_references, reference, seed, block)
        for index, references in blocks:
            difference = X_group[index] - references
            gradient_sums = _path_gradient_sums(
                gradient, references, difference, alphas, batch_size, should_stop
            )
            _sum_by(index, gradient_sums / num_steps * difference, total)
        scores[group] = total / num_references
    return Attribution(
        scores, "integrated_gradients", target, output, num_references, num_steps, reference, seed
    )


# --------------------------------------------------------------------------- DeepSHAP


def _split_pairs(*tensors):
    """First halves ([x] part) and second halves ([r] part) of joint [x; r] tensors."""
    return [tf.split(t, 2, axis=0) for t in tensors]


def _rescale(fn: Callable, z: tf.Tensor) -> tf.Tensor:
    """``fn(z)`` with the DeepLIFT rescale multiplier as its gradient (z is the joint [x; r] batch)."""

    @tf.custom_gradient
    def apply(z):
        y = fn(z)

        def backward(upstream):
            (zx, zr), (yx, yr), (ux, _) = _split_pairs(z, y, upstream)
            with tf.GradientTape() as tape:
                tape.watch(zx)
                fx = fn(zx)
            slope = tape.gradient(fx, zx)
            dz = zx - zr
            far = tf.abs(dz) > _RESCALE_EPS
            secant = (yx - yr) / tf.where(far, dz, tf.ones_like(dz))
            multiplier = ux * tf.where(far, secant, slope)
            # The same multiplier for the reference half keeps both halves' upstreams equal.
            return tf.concat([multiplier, multiplier], axis=0)

        return y, backward

    return apply(z)


def _max_rule(fn: Callable, z: tf.Tensor) -> tf.Tensor:
    """``fn(z)`` (a max pooling) with shap's completeness-preserving DeepLIFT gradient."""

    @tf.custom_gradient
    def apply(z):
        y = fn(z)

        def backward(upstream):
            (zx, zr), (yx, yr), (ux, _) = _split_pairs(z, y, upstream)
            cross = tf.maximum(yx, yr)
            # y(x) - y(r) = [max - y(r)] + [y(x) - max]: route the first part to x's argmax
            # and the second to r's argmax with the pooling's own gradient.
            weights = tf.concat([ux * (cross - yr), ux * (yx - cross)], axis=0)
            with tf.GradientTape() as tape:
                tape.watch(z)
                pooled = fn(z)
            routed_x, routed_r = tf.split(tape.gradient(pooled, z, output_gradients=weights), 2, axis=0)
            dz = zx - zr
            far = tf.abs(dz) > _RESCALE_EPS
            multiplier = tf.where(far, (routed_x + routed_r) / tf.where(far, dz, tf.ones_like(dz)), 0.0)
            return tf.concat([multiplier, multiplier], axis=0)

        return y, backward

    return apply(z)


_LINEAR_LAYERS = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Dense,
    keras.layers.BatchNormalization,
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.Flatten,
    keras.layers.Reshape,
    keras.layers.Permute,
    keras.layers.Add,
    keras.layers.Subtract,
    keras.layers.Average,
    keras.layers.Concatenate,
    keras.layers.ZeroPadding1D,
    keras.layers.Cropping1D,
    keras.layers.AveragePooling1D,
    keras.layers.GlobalAveragePooling1D,
    keras.layers.Identity,
)
_FUSING_LAYERS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Dense)
_ELEMENTWISE_LAYERS = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    FirstLayerActivation,
)
_MAX_LAYERS = (keras.layers.MaxPooling1D, keras.layers.MaxPooling2D, keras.layers.GlobalMaxPooling1D)
_NOT_ELEMENTWISE = ("softmax", "log_softmax")


def _deeplift_rule(layer) -> str:
    """'linear', 'rescale' or 'max'; InvalidInputError for a layer with no DeepLIFT rule here."""
    if isinstance(layer, _LINEAR_LAYERS):
        fused = getattr(layer, "activation", None)
        if isinstance(layer, _FUSING_LAYERS) and fused not in (None, keras.activations.linear):
            raise InvalidInputError(
                f"deepshap: layer {layer.name!r} fuses a nonlinear activation; put it in its own "
                "Activation layer (the model zoo does)"
            )
        return "linear"
    if isinstance(layer, keras.layers.Activation):
        name = getattr(layer.activation, "__name__", "")
        if name in _NOT_ELEMENTWISE:
            raise InvalidInputError(
                f"deepshap: layer {layer.name!r} applies {name}, which is not elementwise"
            )
        return "linear" if layer.activation is keras.activations.linear else "rescale"
    if isinstance(layer, _ELEMENTWISE_LAYERS):
        return "rescale"
    if isinstance(layer, _MAX_LAYERS):
        return "max"
    supported = sorted({cls.__name__ for cls in _LINEAR_LAYERS + _ELEMENTWISE_LAYERS + _MAX_LAYERS})
    raise InvalidInputError(
        f"deepshap: layer {layer.name!r} ({type(layer).__name__}) has no DeepLIFT rule; "
        f"supported: {', '.join(supported)}"
    )


def _deeplift_call(rules: dict[int, str]) -> Callable:
    def call(node, values):
        rule = rules[id(node)]
        if rule == "linear":
            return _call_node(node, values)
        args, kwargs = node.arguments.fill_in(values)

        def fn(z):
            return node.operation(z, *args[1:], **{**kwargs, "training": False})

        return (_rescale if rule == "rescale" else _max_rule)(fn, args[0])

    return call


def _deeplift_function(graph: _Graph, target: int) -> Callable:
    """The function joint [x; r] -> DeepLIFT multipliers of output[target] for the x half."""
    rules = {id(node): _deeplift_rule(node.operation) for node in graph.nodes}
    call = _deeplift_call(rules)

    def multipliers(joint):
        with tf.GradientTape() as tape:
            tape.watch(joint)
            y = graph.forward(joint, call=call)
            y_x = tf.split(y, 2, axis=0)[0][:, target]
        return tf.split(tape.gradient(y_x, joint), 2, axis=0)[0]

    return _compile(multipliers, _batch_spec(graph.input_length))


def _deeplift_multipliers(
    multipliers: Callable, x: np.ndarray, r: np.ndarray, batch_size: int, should_stop: StopCheck | None
) -> np.ndarray:
    """DeepLIFT multipliers for each pair (x[i], r[i]), shape of x; two rows per pair and pass."""
    pairs = max(1, batch_size // 2)
    out = np.empty(x.shape, dtype=np.float32)
    for start in range(0, len(x), pairs):
        _check_stop(should_stop, "deepshap")
        chunk = slice(start, start + pairs)
        out[chunk] = multipliers(tf.constant(np.concatenate([x[chunk], r[chunk]]))).numpy()
    return out


def deepshap(
    model: keras.Model,
    X: np.ndarray,
    *,
    target: int = 0,
    output: Output = "logit",
    num_references: int = 10,
    reference: Reference = "shuffle",
    seed: int = 0,
    index_offset: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    should_stop: StopCheck | None = None,
) -> Attribution:
    """DeepSHAP: DeepLIFT (rescale rule) multipliers × (x - r), averaged over references.

    Per sequence the scores sum to f(x) - mean over references of f(r) up to float
    rounding (completeness). The rules per layer type are in the module docstring.

    Parameters
    ----------
    model : keras.Model
        A functional model with input (N, L, 4) built from supported layers.
    X : np.ndarray, shape (N, L, 4), float32
        One-hot DNA, L the model's input length, N >= 1.
    target : int, default 0
        Output unit scored.
    output : {"logit", "probability"}, default "logit"
        Score the logit or the sigmoid output (through the rescale rule).
    num_references : int, default 10
        References averaged over (the paper: 10).
    reference : {"shuffle", "dinucleotide"}, default "shuffle"
        How references are made (see :func:`make_references`).
    seed : int, default 0
        Seed of the references.
    index_offset : int, default 0
        X[i] draws its references as sequence ``index_offset + i`` would, so a batch
        attributed in chunks gets the same references as in one call.
    batch_size : int, default 256
        Model evaluations per pass; each (x, r) pair takes two. References are made
        a block of a few passes at a time, whatever ``num_references`` is.
    should_stop : callable, optional
        Asked before each pass; True abandons the work (CancelledError).

    Returns
    -------
    Attribution
        ``scores`` (N, L, 4) float32.

    Raises
    ------
    InvalidInputError
        Bad X, target, counts, reference kind or seed; a layer with no DeepLIFT rule.
    CancelledError
        ``should_stop()`` returned True.
    """
    graph, X, target = _prepare(model, X, target, output, batch_size)
    num_references = _check_positive_int(num_references, "num_references")
    _check_choice(reference, "reference", REFERENCES)
    seed = _check_seed(seed)
    offset = _check_offset(index_offset)
    multipliers_of = _compiled(model, ("deeplift", output, target), lambda: _deeplift_function(graph, target))
    # A block of references makes about four passes of (x, r) pairs.
    block = 4 * max(1, batch_size // 2)
    scores = np.empty(X.shape, dtype=np.float32)
    for group in _groups(X.shape[0], num_references, block):
        X_group = X[group]
        total = np.zeros(X_group.shape, dtype=np.float64)
        blocks = _reference_blocks(X_group, offset + group.start, num_references, reference, seed, block)
        for index, references in blocks:
            x = X_group[index]
            multipliers = _deeplift_multipliers(multipliers_of, x, references, batch_size, should_stop)
            _sum_by(index, multipliers * (x - references), total)
        scores[group] = total / num_references
    return Attribution(scores, "deepshap", target, output, num_references, None, reference, seed)


# --------------------------------------------------------------------------- dispatcher

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
        raise InvalidInputError(f"method: unknown name {method!r}; accepted: {', '.join(METHODS)}")
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
