"""DeepSHAP: DeepLIFT (rescale rule) averaged over references, in native TensorFlow.

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

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from motiflens.activations import FirstLayerActivation
from motiflens.attribution._graph import (
    DEFAULT_BATCH_SIZE,
    REFERENCES,
    Attribution,
    Output,
    Reference,
    StopCheck,
    _batch_spec,
    _call_node,
    _check_choice,
    _check_offset,
    _check_positive_int,
    _check_seed,
    _check_stop,
    _compile,
    _compiled,
    _Graph,
    _groups,
    _prepare,
    _sum_by,
)
from motiflens.attribution.forms import correct_gradient, hypothetical_contributions, project
from motiflens.attribution.references import _reference_blocks
from motiflens.errors import InvalidInputError

# Below this |x - r| the rescale multiplier is replaced by the gradient: the secant
# is then numerically meaningless, and the term it multiplies is negligible anyway.
_RESCALE_EPS = 1e-6


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
    gradient_correction: bool = False,
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
    gradient_correction : bool, default False
        Subtract the per-position mean over bases from the DeepLIFT multipliers first
        (:func:`motiflens.attribution.forms.correct_gradient`). Against one-hot
        references this changes ``scores`` per base but neither their per-position
        sums nor ``hypothetical``.
    batch_size : int, default 256
        Model evaluations per pass; each (x, r) pair takes two. References are made
        a block of a few passes at a time, whatever ``num_references`` is.
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
    hypothetical = np.empty(X.shape, dtype=np.float32)
    for group in _groups(X.shape[0], num_references, block):
        X_group = X[group]
        total = np.zeros(X_group.shape, dtype=np.float64)
        hypothetical_total = np.zeros(X_group.shape, dtype=np.float64)
        blocks = _reference_blocks(X_group, offset + group.start, num_references, reference, seed, block)
        for index, references in blocks:
            x = X_group[index]
            multipliers = _deeplift_multipliers(multipliers_of, x, references, batch_size, should_stop)
            if gradient_correction:
                multipliers = correct_gradient(multipliers)
            _sum_by(index, multipliers * (x - references), total)
            _sum_by(index, hypothetical_contributions(multipliers, references), hypothetical_total)
        scores[group] = total / num_references
        hypothetical[group] = hypothetical_total / num_references
    return Attribution(
        scores,
        "deepshap",
        target,
        output,
        num_references,
        None,
        reference,
        seed,
        hypothetical=hypothetical,
        projected=project(hypothetical, X),
        gradient_correction=bool(gradient_correction),
    )
