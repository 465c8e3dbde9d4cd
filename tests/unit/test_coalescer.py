"""services.interpreter.batching.Coalescer: concurrent requests of one model share a pass.

No timing is relied on: the test holds the model's lock itself, waits (by polling the queue,
not a clock) until every request is queued, then lets go, so exactly one thread runs the pass.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from motiflens.errors import CancelledError
from services.interpreter.batching import Coalescer, split_rows


def _rows(n: int, start: int) -> np.ndarray:
    return np.arange(start, start + n, dtype=np.float32).reshape(n, 1, 1) * np.ones((1, 3, 4), np.float32)


def _wait_queued(coalescer: Coalescer, count: int) -> None:
    deadline = time.monotonic() + 60  # a bound against hanging, not a timing assumption
    while len(coalescer._pending) < count:
        assert time.monotonic() < deadline, "requests never queued"
        time.sleep(0.005)


class Calls:
    """compute() that records the rows of every pass."""

    def __init__(self, fail: bool = False) -> None:
        self.passes: list[int] = []
        self.fail = fail

    def __call__(self, X: np.ndarray, stop) -> np.ndarray:
        self.passes.append(len(X))
        if self.fail:
            raise ValueError("the model broke")
        return X.sum(axis=(1, 2)) * 2  # row-wise: each row's result depends on that row only


def _submit(coalescer, key, X, compute, results, index, stop=lambda: False, max_rows=100):
    def run():
        try:
            results[index] = coalescer.run(key, X, compute, split_rows, stop, "test", max_rows=max_rows)
        except BaseException as error:  # noqa: BLE001 (the test inspects it)
            results[index] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_queued_requests_run_in_one_pass_and_each_gets_its_own_rows():
    lock = threading.Lock()
    coalescer = Coalescer(lock)
    compute = Calls()
    inputs = [_rows(n, 10 * i) for i, n in enumerate([3, 1, 5, 2, 4])]
    results: dict[int, object] = {}
    with lock:
        threads = [_submit(coalescer, "k", X, compute, results, i) for i, X in enumerate(inputs)]
        _wait_queued(coalescer, len(inputs))
    for thread in threads:
        thread.join(timeout=60)
    assert compute.passes == [15]  # one pass of every row
    assert (coalescer.passes, coalescer.requests) == (1, 5)
    for i, X in enumerate(inputs):
        np.testing.assert_array_equal(results[i], compute.__class__()(X, None))


def test_only_equal_keys_share_a_pass_and_max_rows_bounds_it():
    lock = threading.Lock()
    coalescer = Coalescer(lock)
    compute = Calls()
    results: dict[int, object] = {}
    with lock:
        threads = [
            _submit(coalescer, "saliency", _rows(4, 0), compute, results, 0, max_rows=8),
            _submit(coalescer, "ism", _rows(4, 100), compute, results, 1, max_rows=8),
            _submit(coalescer, "saliency", _rows(4, 200), compute, results, 2, max_rows=8),
            _submit(coalescer, "saliency", _rows(4, 300), compute, results, 3, max_rows=8),
        ]
        _wait_queued(coalescer, 4)
    for thread in threads:
        thread.join(timeout=60)
    # saliency: 12 rows > 8 -> two passes of 8 and 4 rows; ism alone: 4 rows.
    assert sorted(compute.passes) == [4, 4, 8]
    assert coalescer.requests == 4
    for i, start in enumerate([0, 100, 200, 300]):
        np.testing.assert_array_equal(results[i], _rows(4, start).sum(axis=(1, 2)) * 2)


def test_a_caller_gone_while_queued_is_dropped_and_not_computed():
    lock = threading.Lock()
    coalescer = Coalescer(lock)
    compute = Calls()
    gone = threading.Event()
    results: dict[int, object] = {}
    with lock:
        leaving = _submit(coalescer, "k", _rows(2, 0), compute, results, 0, stop=gone.is_set)
        staying = _submit(coalescer, "k", _rows(3, 50), compute, results, 1)
        _wait_queued(coalescer, 2)
        gone.set()
        leaving.join(timeout=60)  # gives up while the lock is still held
        assert isinstance(results[0], CancelledError)
    staying.join(timeout=60)
    assert compute.passes == [3]
    np.testing.assert_array_equal(results[1], _rows(3, 50).sum(axis=(1, 2)) * 2)


def test_an_error_of_the_pass_reaches_every_request_in_it_and_the_lock_is_released():
    lock = threading.Lock()
    coalescer = Coalescer(lock)
    compute = Calls(fail=True)
    results: dict[int, object] = {}
    with lock:
        threads = [_submit(coalescer, "k", _rows(2, 10 * i), compute, results, i) for i in range(3)]
        _wait_queued(coalescer, 3)
    for thread in threads:
        thread.join(timeout=60)
    assert compute.passes == [6]
    assert all(isinstance(results[i], ValueError) for i in range(3))
    assert lock.acquire(blocking=False)
    lock.release()


@pytest.mark.parametrize("sizes", [[1], [2, 3], [4, 0, 1]])
def test_split_rows(sizes):
    X = np.arange(sum(sizes) * 2).reshape(-1, 2)
    pieces = split_rows(X, sizes)
    assert [len(p) for p in pieces] == sizes
    np.testing.assert_array_equal(np.concatenate(pieces), X)


def test_the_interpreter_setting_switches_coalescing():
    from services.common.config import ConfigError, Settings

    assert Settings.from_env("interpreter", {}).interpreter_coalesce is True
    assert (
        Settings.from_env("interpreter", {"MOTIFLENS_INTERPRETER_COALESCE": "0"}).interpreter_coalesce
        is False
    )
    with pytest.raises(ConfigError, match="MOTIFLENS_INTERPRETER_COALESCE"):
        Settings.from_env("interpreter", {"MOTIFLENS_INTERPRETER_COALESCE": "2"})
