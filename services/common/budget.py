"""A process-wide memory budget that requests reserve from before they allocate.

A handler computes the bytes its request will need from the declared shapes and
parameters (never from what it has already allocated) and reserves them here first.
A request larger than the whole budget can never run: RESOURCE_EXHAUSTED saying the
limit and what the request needed. A request that fits but finds the budget held by
others waits a little (``wait_seconds``) for it to free, then gets RESOURCE_EXHAUSTED
saying to retry — the server queues briefly instead of allocating past its memory
limit and being OOM-killed with every other caller's work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from motiflens.errors import CancelledError, ResourceExhaustedError

MIB = 1024 * 1024


def format_bytes(nbytes: int) -> str:
    """``nbytes`` in MiB or GiB, for messages."""
    return f"{nbytes / 2**30:.2f} GiB" if nbytes >= 2**30 else f"{nbytes / MIB:.1f} MiB"


class MemoryBudget:
    """Bytes that concurrent requests of one process may hold at once.

    Parameters
    ----------
    total_bytes : int
        The budget (> 0).
    wait_seconds : float, default 2.0
        How long a request that fits waits for others to release bytes.
    """

    def __init__(self, total_bytes: int, *, wait_seconds: float = 2.0) -> None:
        if total_bytes <= 0:
            raise ValueError(f"total_bytes: expected > 0, got {total_bytes}")
        self.total_bytes = int(total_bytes)
        self._wait_seconds = wait_seconds
        self._held = 0
        self._changed = threading.Condition()

    @property
    def held_bytes(self) -> int:
        """Bytes reserved now."""
        with self._changed:
            return self._held

    def check(self, nbytes: int, what: str) -> None:
        """Raise ResourceExhaustedError if ``nbytes`` exceeds the whole budget (nothing reserved).

        Parameters
        ----------
        nbytes : int
            Bytes the request needs.
        what : str
            The request's field and sizes, e.g. ``"attribution (N=3, L=200, steps=1000)"``.
        """
        if nbytes > self.total_bytes:
            raise ResourceExhaustedError(
                f"{what}: needs about {format_bytes(nbytes)} of memory; the limit per request is "
                f"{format_bytes(self.total_bytes)} (MOTIFLENS_MEMORY_BUDGET_MB); send fewer "
                "sequences or smaller parameters per call"
            )

    @contextmanager
    def reserve(self, nbytes: int, what: str) -> Iterator[None]:
        """Hold ``nbytes`` of the budget for the duration of the block.

        Raises
        ------
        ResourceExhaustedError
            ``nbytes`` exceeds the whole budget, or the budget stayed taken by other
            requests for ``wait_seconds``.
        """
        nbytes = max(0, int(nbytes))
        self.check(nbytes, what)
        deadline = time.monotonic() + self._wait_seconds
        with self._changed:
            while self._held + nbytes > self.total_bytes:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ResourceExhaustedError(
                        f"{what}: the server's memory budget ({format_bytes(self.total_bytes)}) is taken "
                        f"by other requests ({format_bytes(self._held)} held); retry shortly"
                    )
                self._changed.wait(remaining)
            self._held += nbytes
        try:
            yield
        finally:
            with self._changed:
                self._held -= nbytes
                self._changed.notify_all()


class ComputeSlots:
    """At most ``slots`` CPU-heavy handlers compute at once; the others wait asleep.

    Pure-Python and numba work holds the GIL: with dozens of such handlers runnable,
    a health check waits for its turn at the GIL for hundreds of milliseconds. Waiting
    on this semaphore holds no GIL, so only ``slots`` threads compete with the
    light calls. A waiter gives up when its caller's deadline passes.

    Parameters
    ----------
    slots : int
        Handlers computing at once (> 0); about the number of cores.
    """

    def __init__(self, slots: int) -> None:
        if slots <= 0:
            raise ValueError(f"slots: expected > 0, got {slots}")
        self.slots = slots
        self._semaphore = threading.BoundedSemaphore(slots)

    @contextmanager
    def hold(self, what: str, seconds: float | None) -> Iterator[None]:
        """Compute inside the block once a slot is free, waiting at most ``seconds`` (None: no limit).

        Raises
        ------
        CancelledError
            No slot freed before ``seconds`` passed (the caller's deadline).
        """
        if not self._semaphore.acquire(timeout=None if seconds is None else max(0.0, seconds)):
            raise CancelledError(
                f"{what}: no compute slot freed before the call's deadline ({self.slots} in use); "
                "retry with a longer deadline"
            )
        try:
            yield
        finally:
            self._semaphore.release()
