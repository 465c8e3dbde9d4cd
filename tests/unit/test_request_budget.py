"""Bounds, memory estimates and stop checks of interpreter requests (services.interpreter.requests)."""

import math
import threading
import time
from types import SimpleNamespace

import pytest

from motiflens.errors import CancelledError, InvalidInputError, ResourceExhaustedError
from services.interpreter.requests import (
    MAX_EVALUATIONS,
    PASS_BYTES,
    attribution_bytes,
    check_finite,
    check_range,
    check_work,
    holding,
    pass_bytes,
    pass_rows,
)

# cnn_local on 200 nt: 20,578 floats of activations and 4,800 of first-layer scans per sequence.
SMALL = SimpleNamespace(input_length=200, activation_floats=20_578, scan_floats=4_800, num_outputs=1)
# A wide model on 1000 nt: 2 million floats of activations per sequence.
LARGE = SimpleNamespace(input_length=1000, activation_floats=2_000_000, scan_floats=300_000, num_outputs=164)


def test_integer_bounds_name_the_field_and_the_range():
    assert check_range(0, "num_steps", 1, 1000, zero="20") == 0
    assert check_range(1000, "num_steps", 1, 1000, zero="20") == 1000
    with pytest.raises(
        InvalidInputError, match=r"^num_steps: expected 1 to 1000 \(0 = 20\), got 2147483647$"
    ):
        check_range(2**31 - 1, "num_steps", 1, 1000, zero="20")
    with pytest.raises(InvalidInputError, match=r"^window: expected 1 to 200, got 0$"):
        check_range(0, "window", 1, 200)
    with pytest.raises(InvalidInputError, match=r"^padding: expected 1 to 200 \(0 = 10\), got -1$"):
        check_range(-1, "padding", 1, 200, zero="10")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_floats_must_be_finite(value):
    with pytest.raises(InvalidInputError, match=rf"^threshold: expected a finite number, got {value}$"):
        check_finite(value, "threshold")
    assert check_finite(0.25, "threshold") == 0.25


def test_work_limit_says_how_to_get_under_it():
    options = {"num_references": 1000, "num_steps": 1000}
    check_work("integrated_gradients", options, 4, "Attribute", MAX_EVALUATIONS)  # exactly 4,000,000
    with pytest.raises(ResourceExhaustedError) as caught:
        check_work("integrated_gradients", options, 5, "Attribute", MAX_EVALUATIONS)
    assert str(caught.value) == (
        "Attribute: integrated_gradients over 5 sequences needs 5,000,000 model evaluations "
        "(1,000,000 per sequence); at most 4,000,000 per call: send at most 4 sequences per call, "
        "or lower num_references or num_steps"
    )
    with pytest.raises(ResourceExhaustedError, match="lower num_references$"):
        check_work("deepshap", {"num_references": 1000}, 2001, "Attribute", MAX_EVALUATIONS)
    check_work("ism", {}, 10**9, "Attribute", MAX_EVALUATIONS)  # bounded by N and L alone


def test_passes_shrink_for_models_too_big_for_256_rows():
    assert pass_rows(SMALL) == 256
    assert pass_rows(LARGE) == PASS_BYTES // pass_bytes(LARGE, 1, gradients=True) < 256
    assert pass_bytes(LARGE, pass_rows(LARGE), gradients=True) <= PASS_BYTES


@pytest.mark.parametrize("method", ["integrated_gradients", "deepshap"])
def test_reference_methods_cost_does_not_grow_with_references_and_steps(method):
    few = attribution_bytes(SMALL, method, {"num_references": 10, "num_steps": 20}, 64)
    many = attribution_bytes(SMALL, method, {"num_references": 1000, "num_steps": 1000}, 64)
    # The old code's path array alone: 64 x 10 x 20 rows (82 MB); at 1000 x 1000, 4 TB.
    assert many <= few < 512 * 1024 * 1024
    assert attribution_bytes(SMALL, method, {"num_references": 10, "num_steps": 20}, 1024) > few


def test_holding_gives_up_once_the_caller_has_gone():
    lock = threading.Lock()
    lock.acquire()
    started = time.monotonic()
    with pytest.raises(CancelledError, match="Attribute: abandoned while waiting for the model"):
        with holding(lock, lambda: time.monotonic() - started > 0.3, "Attribute"):
            pass  # pragma: no cover - never entered
    assert time.monotonic() - started < 5
    lock.release()
    with holding(lock, lambda: True, "Attribute"):
        assert lock.locked()  # a free lock is taken whatever should_stop says
    assert not lock.locked()
