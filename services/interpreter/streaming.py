"""How a streamed interpreter call keeps the model busy while its messages go out.

:func:`ahead` computes the next item of an iterator in a worker thread while the gRPC
handler sends the current one: a response message waits for the transport (flow
control, the client reading) and the model would otherwise sit idle meanwhile; with
the next pass computed during the send, a stream of many chunks costs about what its
passes cost. :func:`rechunk` cuts consecutive blocks of rows (one block per model pass)
into the stream's chunks, so that the pass size and the message size are independent.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import TypeVar

import numpy as np

from motiflens.errors import CancelledError

Item = TypeVar("Item")

#: Seconds between looks at the consumer while the worker waits to hand over an item.
HANDOVER_POLL_SECONDS = 0.05

_END = object()


def ahead(
    items: Iterator[Item], should_stop: Callable[[], bool], *, name: str
) -> Generator[Item, None, None]:
    """The items of ``items``, each computed in a worker thread while the previous one is used.

    At most one finished item waits (its memory must be budgeted by the caller). An
    exception in the worker is raised here, at the position of the item it stopped.
    The worker stops when this iterator is closed or ``should_stop()`` is True (the
    caller went away): it then drops what it holds and ends, and a later read here
    raises CancelledError after any item already handed over; closing waits for the
    item being computed (``items`` checks ``should_stop`` between passes).
    """
    handover: queue.Queue = queue.Queue(maxsize=1)
    closed = threading.Event()

    def give(entry) -> bool:
        while not closed.is_set():
            try:
                handover.put(entry, timeout=HANDOVER_POLL_SECONDS)
                return True
            except queue.Full:
                if should_stop():
                    return False
        return False

    def work() -> None:
        try:
            for item in items:
                if not give((item, None)):
                    return
            give((_END, None))
        except BaseException as error:  # handed to the consumer, raised in its thread
            give((_END, error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    try:
        while True:
            try:
                item, error = handover.get(timeout=HANDOVER_POLL_SECONDS)
            except queue.Empty:
                if worker.is_alive() or not handover.empty():
                    continue
                # The worker saw the caller gone and ended without a last item: end too.
                raise CancelledError(f"{name}: stopped, the caller left") from None
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        closed.set()
        worker.join()


def rechunk(blocks: Iterator[Sequence[np.ndarray]], chunk: int) -> Iterator[tuple[int, list[np.ndarray]]]:
    """Consecutive blocks of row-aligned arrays, re-cut into ``(offset, arrays)`` of ``chunk`` rows.

    Each block is a sequence of arrays with the same number of rows (e.g. scores and
    hypothetical maps, each (n, L, 4)); the pieces keep that alignment. Every piece
    has ``chunk`` rows except the last, which has the rest.
    """
    offset = 0
    pending: list[Sequence[np.ndarray]] = []
    pending_rows = 0
    for block in blocks:
        pending.append(block)
        pending_rows += len(block[0])
        if pending_rows < chunk:
            continue
        joined = _joined(pending)
        whole = pending_rows - pending_rows % chunk
        for start in range(0, whole, chunk):
            yield offset, [array[start : start + chunk] for array in joined]
            offset += chunk
        pending = [[array[whole:] for array in joined]] if whole < pending_rows else []
        pending_rows -= whole
    if pending_rows:
        yield offset, _joined(pending)


def _joined(blocks: list[Sequence[np.ndarray]]) -> list[np.ndarray]:
    if len(blocks) == 1:
        return list(blocks[0])
    return [np.concatenate(parts) for parts in zip(*blocks, strict=True)]
