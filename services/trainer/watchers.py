"""WatchJob streams without a thread each: one dispatcher delivers every watcher's events.

A sync gRPC server would otherwise hold one handler thread per open WatchJob stream
for the whole job (hours), so a few dozen ``job.wait()`` calls would take every
thread. Here a stream is a :class:`Watcher` registered by the servicer's thread-free
handler (:func:`services.common.server.watch_handler`), which returns at once.

One dispatcher thread wakes when the job manager reports a change (a worker's notice,
a new job), when a watcher is added, or every ``poll_seconds`` (jobs run by another
trainer replica change only in the store). Each round it reads the record and the
event history of every watched job once, however many watchers it has, and queues
to each watcher the epoch events it has not had yet, then the final record once the
job is terminal. Messages are sent by a small pool of sender threads, one drain per
watcher at a time so its messages stay in order: a send blocks while the client's
HTTP/2 window is full, and a client that stops reading therefore holds at most one
sender thread, never the dispatcher (a job's whole history is a few KiB, far below
the window, so in practice no send waits).

A store failure while reading a watched job ends that job's streams with the
failure's status (the SDK retries UNAVAILABLE); closing the hub ends every open
stream with UNAVAILABLE (the trainer is shutting down: retry on another replica).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from motiflens.errors import UnavailableError

logger = logging.getLogger(__name__)

#: Threads that write watchers' messages to their streams.
SENDER_THREADS = 4

#: ``deliver(kind, item)``: ``("epoch", event)`` per epoch, then ``("final", job_record)``.
Deliver = Callable[[str, dict], None]
#: ``fail(error)`` ends the stream with the error's status.
Fail = Callable[[Exception], None]
#: ``read(job_id)`` -> (job record, epoch events), both from the store.
ReadJob = Callable[[str], tuple[dict, list[dict]]]


@dataclass(eq=False)
class Watcher:
    """One open WatchJob stream.

    Attributes
    ----------
    job_id : str
    deliver, fail : callable
        Send one item / end the stream with an error (called on a sender thread).
    sent : int
        Epoch events queued so far (the dispatcher's count).
    """

    job_id: str
    deliver: Deliver
    fail: Fail
    sent: int = 0
    closed: bool = False
    outbox: deque = field(default_factory=deque)
    draining: bool = False


class JobWatchers:
    """Every open WatchJob stream of one trainer, served by one dispatcher thread.

    Parameters
    ----------
    read : callable
        ``read(job_id)`` -> (record, events); raises for an unknown id or a store failure.
    is_terminal : callable
        ``is_terminal(state)`` -> whether a job in that state is finished.
    poll_seconds : float
        Longest wait between two rounds (changes made by other replicas are seen then).
    """

    def __init__(self, read: ReadJob, is_terminal: Callable[[str], bool], *, poll_seconds: float) -> None:
        self._read = read
        self._is_terminal = is_terminal
        self._poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._watchers: set[Watcher] = set()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._senders = ThreadPoolExecutor(SENDER_THREADS, thread_name_prefix="watch-send")
        self._dispatcher = threading.Thread(target=self._dispatch, name="watch-dispatcher", daemon=True)
        self._dispatcher.start()

    def __len__(self) -> int:
        with self._lock:
            return len(self._watchers)

    def add(self, job_id: str, deliver: Deliver, fail: Fail) -> Watcher:
        """Register a stream; its history is sent in the next round (started at once).

        Raises
        ------
        UnavailableError
            The hub is closed (the trainer is shutting down).
        """
        watcher = Watcher(job_id, deliver, fail)
        with self._lock:
            if self._closed.is_set():
                raise UnavailableError("the trainer is shutting down; retry on another replica or later")
            self._watchers.add(watcher)
        self._wake.set()
        return watcher

    def remove(self, watcher: Watcher) -> None:
        """Forget a stream (its call ended); nothing more is sent to it. Never blocks."""
        watcher.closed = True
        with self._lock:
            self._watchers.discard(watcher)

    def wake(self) -> None:
        """Start a round now (something changed)."""
        self._wake.set()

    def close(self) -> None:
        """End every open stream with UNAVAILABLE and stop the dispatcher and senders."""
        with self._lock:
            self._closed.set()
            watchers, self._watchers = list(self._watchers), set()
        self._wake.set()
        self._dispatcher.join(timeout=10)
        error = UnavailableError("the trainer is shutting down; watch the job again on another replica")
        for watcher in watchers:
            self._queue(watcher, ("fail", error))
        self._senders.shutdown(wait=True, cancel_futures=False)

    # ---- dispatcher
    def _dispatch(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self._poll_seconds)
            self._wake.clear()
            try:
                self._round()
            except Exception:  # noqa: BLE001 - the dispatcher must outlive any one failure
                logger.exception("watch dispatcher: round failed; retrying")

    def _round(self) -> None:
        with self._lock:
            by_job: dict[str, list[Watcher]] = {}
            for watcher in self._watchers:
                by_job.setdefault(watcher.job_id, []).append(watcher)
        for job_id, watchers in by_job.items():
            if self._closed.is_set():
                return
            try:
                record, events = self._read(job_id)  # first the record, then the events it counts
            except Exception as error:  # noqa: BLE001 - the streams end with the error's status
                for watcher in watchers:
                    self._finish(watcher, ("fail", error))
                continue
            terminal = self._is_terminal(record["state"])
            for watcher in watchers:
                for event in events[watcher.sent :]:
                    self._queue(watcher, ("epoch", event))
                watcher.sent = max(watcher.sent, len(events))
                if terminal:
                    self._finish(watcher, ("final", record))

    def _finish(self, watcher: Watcher, item: tuple) -> None:
        """Queue the last item of a stream and stop watching for it."""
        with self._lock:
            self._watchers.discard(watcher)
        self._queue(watcher, item)

    # ---- senders
    def _queue(self, watcher: Watcher, item: tuple) -> None:
        with self._lock:
            watcher.outbox.append(item)
            if watcher.draining:
                return
            watcher.draining = True
        try:
            self._senders.submit(self._drain, watcher)
        except RuntimeError:  # the senders are shut down: the stream is being cancelled anyway
            watcher.draining = False

    def _drain(self, watcher: Watcher) -> None:
        while True:
            with self._lock:
                if not watcher.outbox or watcher.closed:
                    watcher.outbox.clear()
                    watcher.draining = False
                    return
                kind, item = watcher.outbox.popleft()
            try:
                if kind == "fail":
                    watcher.fail(item)
                else:
                    watcher.deliver(kind, item)
            except Exception:  # noqa: BLE001 - a broken stream must not stop the others
                logger.warning("watch stream of job %s: send failed", watcher.job_id, exc_info=True)
                watcher.closed = True
