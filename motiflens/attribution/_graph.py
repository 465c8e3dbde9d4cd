"""The engine every attribution method shares: validation, the model graph, compiled passes.

:class:`_Graph` is the part of a functional model from its one-hot input (N, L, 4)
to the scored output (N, T), in call order; every method runs it in inference mode
(``training=False``). Compiled TensorFlow functions are cached on the model object
(:func:`_compiled`), so a service calling one model repeatedly traces each pass once.
:class:`Attribution` is the result type of every method.
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import keras
import numpy as np
import tensorflow as tf

from motiflens.errors import CancelledError, InvalidInputError
from motiflens.models import LOGITS_LAYER
from motiflens.sequences import check_one_hot

Output = Literal["logit", "probability"]
Reference = Literal["shuffle", "dinucleotide"]
#: ``should_stop()`` -> True once the caller no longer wants the result (asked between passes).
StopCheck = Callable[[], bool]

OUTPUTS = ("logit", "probability")
REFERENCES = ("shuffle", "dinucleotide")
DEFAULT_BATCH_SIZE = 256

#: What a :func:`_compiled` builder returns (one compiled function, or a tuple of them).
_Built = TypeVar("_Built")


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
    hypothetical : np.ndarray, shape (N, L, 4), float32
        Hypothetical contributions: what each base would contribute at each position
        (see :mod:`motiflens.attribution.forms`).
    projected : np.ndarray, shape (N, L, 4), float32
        ``hypothetical`` × the one-hot input: non-zero only at the bases present.
    gradient_correction : bool
        Whether the per-position mean over bases was subtracted from the gradients
        (or multipliers) before the maps were formed (saliency, integrated
        gradients, DeepSHAP).
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
    hypothetical: np.ndarray | None = None
    projected: np.ndarray | None = None
    gradient_correction: bool = False

    def __array__(self, dtype=None, copy=None):
        """The scores, so that ``np.asarray(attribution)`` works."""
        return self.scores if dtype is None else self.scores.astype(dtype)


# --------------------------------------------------------------------------- validation


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool):
        raise InvalidInputError(f"{name}: expected an integer >= 1, got {value!r}", field=name)
    try:
        value = operator.index(value)
    except TypeError:
        raise InvalidInputError(f"{name}: expected an integer >= 1, got {value!r}", field=name) from None
    if value < 1:
        raise InvalidInputError(f"{name}: expected an integer >= 1, got {value}", field=name)
    return value


def _check_choice(value, name: str, accepted: tuple[str, ...]) -> str:
    if value not in accepted:
        raise InvalidInputError(
            f"{name}: unknown value {value!r}; accepted: {', '.join(accepted)}", field=name
        )
    return value


def _check_seed(seed) -> int:
    if isinstance(seed, bool):
        raise InvalidInputError(f"seed: expected an integer >= 0, got {seed!r}", field="seed")
    try:
        seed = operator.index(seed)
    except TypeError:
        raise InvalidInputError(f"seed: expected an integer >= 0, got {seed!r}", field="seed") from None
    if seed < 0:
        raise InvalidInputError(f"seed: expected an integer >= 0, got {seed}", field="seed")
    return seed


def _check_offset(index_offset) -> int:
    if isinstance(index_offset, bool) or not isinstance(index_offset, (int, np.integer)) or index_offset < 0:
        raise InvalidInputError(
            f"index_offset: expected an integer >= 0, got {index_offset!r}", field="index_offset"
        )
    return int(index_offset)


def _check_target(target, num_outputs: int) -> int:
    if isinstance(target, bool):
        raise InvalidInputError(
            f"target: expected an integer in [0, {num_outputs}), got {target!r}", field="target"
        )
    try:
        target = operator.index(target)
    except TypeError:
        raise InvalidInputError(
            f"target: expected an integer in [0, {num_outputs}), got {target!r}", field="target"
        ) from None
    if not 0 <= target < num_outputs:
        raise InvalidInputError(
            f"target: expected an integer in [0, {num_outputs}) (the model has {num_outputs} outputs), "
            f"got {target}",
            field="target",
        )
    return target


# --------------------------------------------------------------------------- the graph


def _target_tensor(model: keras.Model, output: str):
    if output == "probability":
        if len(model.outputs) != 1:
            raise InvalidInputError(
                f"model: expected one output tensor, got {len(model.outputs)}", field="model"
            )
        return model.outputs[0]
    try:
        return model.get_layer(LOGITS_LAYER).output
    except ValueError:
        raise InvalidInputError(
            f"output: 'logit' needs a layer named {LOGITS_LAYER!r} (as the model zoo has); "
            "use output='probability' to score the model's output",
            field="output",
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
                    "model: the scored output depends on an input other than the sequence", field="model"
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
            raise InvalidInputError(
                f"model: expected a Keras functional model, got {type(model).__name__}", field="model"
            )
        if len(model.inputs) != 1:
            raise InvalidInputError(
                f"model: expected one input (N, L, 4), got {len(model.inputs)} inputs", field="model"
            )
        self.input = model.inputs[0]
        shape = tuple(self.input.shape)
        if len(shape) != 3 or shape[-1] != 4:
            raise InvalidInputError(
                f"model: expected an input of shape (N, L, 4), got {shape}", field="model"
            )
        self.input_length: int | None = shape[1]
        self.output = _target_tensor(model, output)
        if len(self.output.shape) != 2:
            raise InvalidInputError(
                f"model: expected a scored output of shape (N, T), got {self.output.shape}", field="model"
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
    X = check_one_hot(X, length=graph.input_length, dtype=np.float32)
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

    def __init__(self) -> None:
        # Values: a compiled function, or a tuple of them (fast ISM's two passes).
        self._functions: dict[tuple, Any] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple, build: Callable[[], _Built]) -> _Built:
        with self._lock:
            if key not in self._functions:
                self._functions[key] = build()
            return self._functions[key]


def _compiled(model: keras.Model, key: tuple, build: Callable[[], _Built]) -> _Built:
    """The compiled function ``key`` of ``model``, built by ``build()`` on first use."""
    cache = model.__dict__.get("_motiflens_compiled")
    if cache is None:
        cache = _CompiledFunctions()
        # object.__setattr__ bypasses Keras' attribute tracking of the model.
        object.__setattr__(model, "_motiflens_compiled", cache)
    return cache.get(key, build)


def _batch_spec(length: int | None) -> tf.TensorSpec:
    # length None: a model that takes any sequence length.
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
