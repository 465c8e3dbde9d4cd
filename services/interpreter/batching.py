"""Concurrent calls on one model, run together (as TF Serving's batching does, without a timer).

Every call of a model used to take the model's lock for its own rows, so 32 clients each
asking saliency for 8 sequences ran 32 small passes one after another, and each paid the
per-pass cost (graph dispatch, thread start-up) alone. A :class:`Coalescer` queues each
request; whichever request gets the model's lock runs its own rows *and every compatible
request queued meanwhile* (same computation: the key), up to ``max_rows``, in one pass, and
hands every request its own rows of the result. No request waits for a timer: the wait is
the one it would have had for the lock anyway, so an idle model answers as fast as before.

Only computations whose rows do not depend on each other are coalesced (model outputs,
saliency, ISM): each row of the batched result equals that row computed alone, up to the
float32 rounding of kernels chosen by batch size (as between two chunk sizes of one call;
tests/service/test_coalesced_calls.py bounds it at 1e-5 of the largest score).
A caller that goes away while queued is dropped from the queue; a batch stops early only
when every caller in it has gone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from motiflens.errors import CancelledError

#: Seconds between checks of a queued caller (is it gone? did another request run it?).
POLL_SECONDS = 0.05

Result = TypeVar("Result")
StopCheck = Callable[[], bool]


@dataclass(eq=False)
class _Request:
    key: Hashable
    X: np.ndarray
    should_stop: StopCheck
    max_rows: int
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class Coalescer(Generic[Result]):
    """Run concurrent requests of one model together, under the model's ``lock``.

    Parameters
    ----------
    lock : threading.Lock
        The model's lock (held while the model computes).
    """

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._pending: list[_Request] = []
        self._queue_lock = threading.Lock()
        #: Passes run and requests served (for tests and metrics): how much coalescing happened.
        self.passes = 0
        self.requests = 0

    def run(
        self,
        key: Hashable,
        X: np.ndarray,
        compute: Callable[[np.ndarray, StopCheck], Result],
        split: Callable[[Result, Sequence[int]], list[Result]],
        should_stop: StopCheck,
        what: str,
        max_rows: int,
    ) -> Result:
        """``compute(X, stop)`` for this request, possibly in one pass with other queued requests.

        Parameters
        ----------
        key : hashable
            Requests with equal keys compute the same function of their rows (method,
            options, output): only those are run together.
        X : np.ndarray, shape (n, L, 4)
        compute : callable
            ``compute(X_all, stop) -> result`` for the rows of every request in the pass,
            in order; ``stop()`` is True once every caller in the pass has gone.
        split : callable
            ``split(result, sizes) -> [result of each request]``, cutting the pass's
            result into consecutive pieces of ``sizes`` rows.
        should_stop : callable
            True once this request's caller has gone.
        what : str
            Names the call in a cancellation message.
        max_rows : int
            Most rows (sequences) of a pass this request starts (the rows of one of the
            model's passes, so that coalescing never makes a pass bigger than a lone
            request's); a request larger than that runs alone.

        Raises
        ------
        CancelledError
            The caller left while the request was queued.
        """
        request = _Request(key, X, should_stop, max(1, int(max_rows)))
        with self._queue_lock:
            self._pending.append(request)
        while True:
            if self._lock.acquire(timeout=POLL_SECONDS):
                try:
                    if not request.done.is_set():
                        self._run_pass(self._take(request), compute, split)
                finally:
                    self._lock.release()
                return request.outcome()
            if request.done.is_set():
                return request.outcome()
            if should_stop():
                with self._queue_lock:
                    queued = request in self._pending
                    if queued:
                        self._pending.remove(request)
                if queued:
                    raise CancelledError(f"{what}: abandoned while waiting for the model (the caller left)")
                # Another request took it into the pass that holds the lock now: its outcome
                # comes with that pass.
                request.done.wait()
                return request.outcome()

    def _take(self, first: _Request) -> list[_Request]:
        """``first`` and the compatible queued requests that fit in ``max_rows``, off the queue."""
        with self._queue_lock:
            self._pending.remove(first)
            batch, rows = [first], len(first.X)
            for other in list(self._pending):
                if other.key != first.key or rows + len(other.X) > first.max_rows:
                    continue
                if other.should_stop():
                    continue  # its own thread removes it and reports the cancellation
                self._pending.remove(other)
                batch.append(other)
                rows += len(other.X)
        return batch

    def _run_pass(
        self,
        batch: list[_Request],
        compute: Callable[[np.ndarray, StopCheck], Result],
        split: Callable[[Result, Sequence[int]], list[Result]],
    ) -> None:
        try:
            X = batch[0].X if len(batch) == 1 else np.concatenate([r.X for r in batch])
            result = compute(X, lambda: all(r.should_stop() for r in batch))
            pieces = [result] if len(batch) == 1 else split(result, [len(r.X) for r in batch])
            for request, piece in zip(batch, pieces, strict=True):
                request.result = piece
        except BaseException as error:  # every request of the pass gets the pass's error
            for request in batch:
                request.error = error
        finally:
            self.passes += 1
            self.requests += len(batch)
            for request in batch:
                request.done.set()


def split_rows(result: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    """An (N, ...) array cut into consecutive pieces of ``sizes`` rows."""
    return np.split(result, np.cumsum(sizes)[:-1])
