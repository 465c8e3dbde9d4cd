"""Bounds, costs and stop checks of interpreter requests, all decided before anything is allocated.

- Bounds: every integer parameter has a range and every float must be finite;
  outside them a request is INVALID_ARGUMENT (``num_steps: expected 1 to 1000
  (0 = 20), got 2147483647``).
- Memory: from the declared sizes alone (N sequences, the model's input length L,
  its activations per sequence, the method's references and steps) each request
  gets an estimate of the bytes it will hold at its peak. The servicer reserves it
  from the process's :class:`services.common.budget.MemoryBudget`; a request that can
  never fit is RESOURCE_EXHAUSTED, naming the limit. The estimates are deliberately
  generous (about 3 x the floats of a forward pass when gradients are taken).
- Work: integrated gradients and DeepSHAP cost N x references x steps (x 2 for a
  DeepSHAP pair) model evaluations; past :data:`MAX_EVALUATIONS` a call is
  RESOURCE_EXHAUSTED saying how to split it.
- Stopping: :func:`services.common.server.caller_gone` is the ``should_stop`` the core functions ask
  between passes, so a call whose caller cancelled or whose deadline passed
  stops computing (CancelledError -> CANCELLED).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from motiflens.attribution import DEFAULT_BATCH_SIZE
from motiflens.errors import CancelledError, InvalidInputError, ResourceExhaustedError
from services.common.attribution_options import (  # noqa: F401  (the request bounds, re-exported)
    DEFAULT_NUM_REFERENCES,
    DEFAULT_NUM_STEPS,
    MAX_NUM_REFERENCES,
    MAX_NUM_STEPS,
    check_range,
)
from services.interpreter.model_cache import LoadedModel

#: Model evaluations one Attribute or ScoreInterpretability call may ask for: the
#: largest request of default size (20,000 sequences x 10 references x 20 steps).
MAX_EVALUATIONS = 4_000_000
#: Seconds between looks at the caller while waiting for a model another call holds.
LOCK_POLL_SECONDS = 0.25
#: Bytes one attribution pass may hold (activations and gradients); see :func:`pass_rows`.
PASS_BYTES = 256 * 1024 * 1024
#: Bytes per float32.
FLOAT32 = 4
#: Bytes of one one-hot row (4 float32).
_ROW = 4 * FLOAT32


def check_finite(value: float, field: str) -> float:
    """``value`` if it is a finite number; InvalidInputError naming ``field`` for NaN or ±inf."""
    if not math.isfinite(value):
        raise InvalidInputError(f"{field}: expected a finite number, got {value}", field=field)
    return float(value)


@contextmanager
def holding(lock: threading.Lock, should_stop: Callable[[], bool], what: str) -> Iterator[None]:
    """Run the block holding ``lock``; give up waiting for it once ``should_stop()`` is True.

    Raises
    ------
    CancelledError
        The caller left while another call held the model.
    """
    while not lock.acquire(timeout=LOCK_POLL_SECONDS):
        if should_stop():
            raise CancelledError(f"{what}: abandoned while waiting for the model (the caller left)")
    try:
        yield
    finally:
        lock.release()


# --------------------------------------------------------------------------- costs


def onehot_bytes(num_sequences: int, length: int) -> int:
    """Bytes of a float32 one-hot batch (N, L, 4)."""
    return num_sequences * length * _ROW


def pass_rows(loaded: LoadedModel) -> int:
    """Rows per attribution pass (the core's ``batch_size``): 256, fewer for models too big for it.

    A pass with gradients holds about 3 x the model's activations per row; rows are
    cut so that one pass stays within :data:`PASS_BYTES`.
    """
    per_row = pass_bytes(loaded, 1, gradients=True)
    return max(1, min(DEFAULT_BATCH_SIZE, PASS_BYTES // per_row))


def pass_bytes(loaded: LoadedModel, rows: int, *, gradients: bool) -> int:
    """Bytes of one pass of ``rows`` rows: every layer's output, and about twice that again for gradients."""
    return rows * loaded.activation_floats * FLOAT32 * (3 if gradients else 1)


def check_work(method: str, options: dict, num_sequences: int, what: str, limit: int) -> None:
    """Raise ResourceExhaustedError if a reference method asks for more than ``limit`` model evaluations.

    Integrated gradients evaluates references x steps path points per sequence,
    DeepSHAP two rows per reference; the other methods are bounded by N and L alone.
    """
    if method == "integrated_gradients":
        per_sequence = options["num_references"] * options["num_steps"]
    elif method == "deepshap":
        per_sequence = 2 * options["num_references"]
    else:
        return
    needed = num_sequences * per_sequence
    if needed > limit:
        raise ResourceExhaustedError(
            f"{what}: {method} over {num_sequences} sequences needs {needed:,} model evaluations "
            f"({per_sequence:,} per sequence); at most {limit:,} per call: send at most "
            f"{max(1, limit // per_sequence):,} sequences per call, or lower num_references"
            + (" or num_steps" if method == "integrated_gradients" else "")
        )


def attribution_bytes(loaded: LoadedModel, method: str, options: dict, chunk: int) -> int:
    """Peak bytes of attributing one chunk of ``chunk`` sequences, beyond the request's own X.

    Mirrors how :mod:`motiflens.attribution` works: passes of :func:`pass_rows` rows,
    and for the reference methods blocks of references of about four passes.
    """
    length, rows = loaded.input_length, pass_rows(loaded)
    # Every method returns three maps (scores, hypothetical, projected).
    scores = 3 * onehot_bytes(chunk, length)
    if method == "saliency":
        return 2 * scores + pass_bytes(loaded, min(chunk, rows), gradients=True)
    if method in ("ism", "ism_naive"):
        # A group of sequences keeps its wild-type activations; mutants go a pass at a time.
        group = min(chunk, max(1, 16 * rows // (3 * length)))
        return (
            scores
            + pass_bytes(loaded, group, gradients=False)
            + 2 * pass_bytes(loaded, rows, gradients=False)
        )
    references = options.get("num_references", 1)
    if method == "integrated_gradients":
        block = max(1, 4 * rows // options.get("num_steps", 1))
        working = 2 * onehot_bytes(rows, length)  # path points and their gradients
    else:
        block = 4 * max(1, rows // 2)
        working = 2 * onehot_bytes(rows, length)  # the joint [x; r] pass and its multipliers
    group = min(chunk, max(1, block // references))
    # References, x - r and the float64 sums of a block; the two float64 totals of a group
    # (scores and hypothetical).
    blocks = 4 * onehot_bytes(block, length) + 4 * onehot_bytes(group, length)
    return scores + blocks + working + pass_bytes(loaded, rows, gradients=True)


def scan_bytes(loaded: LoadedModel, num_sequences: int) -> int:
    """Bytes of first-layer scans (N, L, F) float32."""
    return num_sequences * loaded.scan_floats * FLOAT32


def describe_call(what: str, num_sequences: int, loaded: LoadedModel) -> str:
    """``"Attribute saliency ... on 64 sequences of 200 nt"`` for budget messages."""
    return f"{what} on {num_sequences} sequences of {loaded.input_length} nt"


def size_parameters(options: dict, **extra: int) -> str:
    """The size parameters of a call, e.g. ``" (num_references 10, num_steps 20, chunk_size 64)"``."""
    sizes = {name: options[name] for name in ("num_references", "num_steps") if name in options} | extra
    return f" ({', '.join(f'{name} {value}' for name, value in sizes.items())})" if sizes else ""
