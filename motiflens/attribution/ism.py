"""In-silico mutagenesis: :func:`ism` (fast, windowed), :func:`ism_naive` and :func:`ism_l2_norm`.

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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from motiflens.activations import FirstLayerActivation
from motiflens.attribution._graph import (
    DEFAULT_BATCH_SIZE,
    Attribution,
    Output,
    StopCheck,
    _batch_spec,
    _call_node,
    _check_stop,
    _compile,
    _compiled,
    _Graph,
    _groups,
    _predict,
    _prepare,
)
from motiflens.attribution.forms import mean_centre, project
from motiflens.errors import InvalidInputError
from motiflens.flops import forward_flops, layer_flops
from motiflens.sequences import check_one_hot

_EYE = np.eye(4, dtype=np.float32)


def _substitutions(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sequence, position, base) of every substitution that changes X, in that order."""
    is_wild_type = np.all(X[:, :, None, :] == _EYE[None, None], axis=-1)
    n, p, b = np.nonzero(~is_wild_type)
    return n, p, b


def _substitution_batches(
    X: np.ndarray, batch_size: int, per_pass: int | None = None
) -> Iterator[tuple[slice, list]]:
    """Groups of sequences, each with its substitutions split into near-equal batches of <= per_pass.

    A group holds about sixteen passes of ``batch_size`` rows' worth of substitutions
    (at least one sequence), so that batches may span sequences and few passes run
    part-full; ``per_pass`` (default ``batch_size``) caps the mutants of one pass.
    """
    length = X.shape[1]
    per_pass = per_pass or batch_size
    for group in _groups(X.shape[0], 3 * length, 16 * batch_size):
        n, p, b = _substitutions(X[group])
        num_batches = max(1, -(-len(n) // per_pass))
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
    scores = check_one_hot(scores, "scores", dtype=np.float32, allow_empty=True, finite=False)
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
        ``scores`` (N, L, 4) float32: f(mutant) - f(x), 0 at the wild-type base;
        ``hypothetical`` the per-position mean-centred map, ``projected`` that × X.

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
    return _with_forms(Attribution(scores, "ism_naive", target, output), X)


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


def _planned_geometry(layer) -> tuple[int, int]:
    """:func:`_conv_geometry` of a layer the plan windowed as a convolution (so never None)."""
    geometry = _conv_geometry(layer)
    if geometry is None:
        raise RuntimeError(f"ism: layer {layer.name!r} was planned as a windowed convolution but is not one")
    return geometry


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
    node: Any  # a Keras call node (keras has no public type for it)
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
        self.floats_per_mutant, self.floats_per_row = self._activation_floats()

    def _activation_floats(self) -> tuple[int, int]:
        """Activation floats of one mutant in the mutant pass, and of one row of a full pass.

        A mutant holds each tensor's window (the whole tensor for layers run in full)
        and each windowed convolution's input slab; a full row holds every tensor at
        full length. Their ratio is how many mutants fit in one row's memory.
        """
        per_mutant = per_row = 0
        for step in self.steps:
            out = step.node.outputs[0]
            size = int(np.prod(out.shape[1:]))
            per_row += size
            window = self.windows.get(id(out))
            if step.kind == "full" or window is None:
                per_mutant += size
                continue
            per_mutant += window.width * int(np.prod(out.shape[2:]))
            if step.kind == "conv":
                width, _ = _planned_geometry(step.node.operation)
                per_mutant += (window.width + width - 1) * int(step.node.input_tensors[0].shape[-1])
        return max(1, per_mutant), max(1, per_row)

    def _plan(self, node, graph: _Graph, num_positions: int) -> _Step:
        # num_positions: input length, i.e. how many substitution positions each window array covers.
        layer = node.operation
        inputs = node.input_tensors
        windows = [self.windows[id(tensor)] for tensor in inputs if id(tensor) in self.windows]
        outputs = node.outputs
        windowed = len(windows) == len(inputs) and len(outputs) == 1 and len(outputs[0].shape) == 3
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
        width, left = _planned_geometry(layer)
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
        width, left = _planned_geometry(layer)
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


def ism_flops(model: keras.Model, output: Output = "logit") -> int:
    """FLOPs per one-hot sequence of :func:`ism` on ``model``, counted from its window plan.

    One wild-type forward pass plus 3L mutants, each costing, layer by layer, what the
    plan recomputes: a windowed convolution its window's positions, a layer run in
    full its whole output, the first convolution's rank-one update its kernel once
    (conventions of :mod:`motiflens.flops`: Conv1D and Dense multiply-adds only).
    """
    graph = _Graph(model, output)
    if graph.input_length is None:
        raise InvalidInputError("ism_flops: the model needs a fixed input length", field="model")
    length = int(graph.input_length)
    plan = _WindowPlan(graph, length)
    per_mutant = 0
    for step in plan.steps:
        layer = step.node.operation
        out = step.node.outputs[0]
        if step.kind == "first_conv":
            width, channels_in, channels_out = layer.kernel.shape
            per_mutant += 2 * int(width) * int(channels_in) * int(channels_out)
        elif step.kind in ("conv", "positionwise"):
            per_mutant += layer_flops(layer, plan.windows[id(out)].width)
        elif step.kind == "full":
            per_mutant += layer_flops(layer, int(out.shape[1]) if len(out.shape) == 3 else 1)
    return forward_flops(model) + 3 * length * per_mutant


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
        Memory of a pass, in full rows: a mutant holds only its windows, so one pass
        takes as many mutants as fit in ``batch_size`` rows (``batch_size`` times the
        ratio of a full row's activations to a mutant's; 4x for CNN-deep at
        200 nt), at most one group of sequences' substitutions. Larger passes run the
        small windowed convolutions closer to the machine's GEMM rate.
    should_stop : callable, optional
        Asked before each pass; True abandons the work (CancelledError).

    Returns
    -------
    Attribution
        ``scores`` (N, L, 4) float32; reduce per position with :func:`ism_l2_norm`.
        ``hypothetical`` is the per-position mean-centred map, ``projected`` that × X.

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
        return wild_type_pass, mutant_pass, max(1, plan.floats_per_row // plan.floats_per_mutant)

    wild_type_pass, mutant_pass, mutants_per_row = _compiled(model, ("ism", output), build_passes)
    scores = np.zeros(X.shape, dtype=np.float32)
    for group, batches in _substitution_batches(X, batch_size, batch_size * mutants_per_row):
        _check_stop(should_stop, f"ism at sequence {group.start} of {len(X)}")
        X_group = tf.constant(X[group])
        reference, *wild_type = wild_type_pass(X_group)
        reference = np.asarray(reference)[:, target]
        for n, p, b in batches:
            _check_stop(should_stop, f"ism at sequence {group.start} of {len(X)}")
            y = mutant_pass(wild_type, X_group, tf.constant(n), tf.constant(p), tf.constant(b))
            scores[group.start + n, p, b] = np.asarray(y)[:, target] - reference[n]
    return _with_forms(Attribution(scores, "ism", target, output), X)


def _with_forms(result: Attribution, X: np.ndarray) -> Attribution:
    """Add ISM's hypothetical form (the mean-centred Δ map) and its projection onto X (N, L, 4)."""
    hypothetical = mean_centre(result.scores).astype(np.float32)
    return dataclasses.replace(result, hypothetical=hypothetical, projected=project(hypothetical, X))
