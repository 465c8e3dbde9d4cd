"""The WatchJob hub (services.trainer.watchers): order, one read per job, failures, closing."""

from __future__ import annotations

import threading
import time

import pytest

from motiflens.errors import UnavailableError
from services.trainer.watchers import JobWatchers

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


class Jobs:
    """Job records and epoch events in memory, counting reads, failing on demand."""

    def __init__(self) -> None:
        self.records = {"a": {"state": "RUNNING"}, "b": {"state": "RUNNING"}}
        self.events: dict[str, list[dict]] = {"a": [], "b": []}
        self.reads: dict[str, int] = {"a": 0, "b": 0}
        self.broken: set[str] = set()
        self.lock = threading.Lock()

    def read(self, job_id: str):
        with self.lock:
            self.reads[job_id] += 1
            if job_id in self.broken:
                raise UnavailableError("store unreachable")
            return dict(self.records[job_id]), list(self.events[job_id])


class Stream:
    def __init__(self) -> None:
        self.items: list[tuple] = []
        self.done = threading.Event()

    def deliver(self, kind: str, item: dict) -> None:
        self.items.append((kind, item.get("epoch", item.get("state"))))
        if kind == "final":
            self.done.set()

    def fail(self, error: Exception) -> None:
        self.items.append(("fail", str(error)))
        self.done.set()


def wait_until(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def hub_and_jobs():
    jobs = Jobs()
    hub = JobWatchers(jobs.read, lambda state: state in TERMINAL, poll_seconds=0.05)
    yield hub, jobs
    hub.close()


def test_each_stream_gets_every_epoch_once_in_order_then_the_final_record(hub_and_jobs):
    hub, jobs = hub_and_jobs
    streams = [Stream() for _ in range(30)]
    for stream in streams:
        hub.add("a", stream.deliver, stream.fail)
    for epoch in range(1, 6):
        with jobs.lock:
            jobs.events["a"].append({"epoch": epoch})
        hub.wake()
        time.sleep(0.02)
    with jobs.lock:
        jobs.records["a"] = {"state": "SUCCEEDED"}
    hub.wake()
    for stream in streams:
        assert stream.done.wait(30)
        assert stream.items == [("epoch", e) for e in range(1, 6)] + [("final", "SUCCEEDED")]
    assert wait_until(lambda: len(hub) == 0)


def test_a_round_reads_each_watched_job_once_however_many_streams(hub_and_jobs):
    hub, jobs = hub_and_jobs
    for _ in range(50):
        stream = Stream()
        hub.add("a", stream.deliver, stream.fail)
    assert wait_until(lambda: jobs.reads["a"] >= 1)
    time.sleep(0.2)  # the wake-ups of the 50 additions are over
    before = jobs.reads["a"]
    time.sleep(0.5)  # at most 0.5 / 0.05 = 10 rounds (fewer on a busy machine)
    # 50 streams polling on their own would have read 500 times; the hub reads once a round.
    assert jobs.reads["a"] - before <= 11 and jobs.reads["b"] == 0


def test_a_failed_read_ends_only_that_jobs_streams(hub_and_jobs):
    hub, jobs = hub_and_jobs
    broken, healthy = Stream(), Stream()
    jobs.broken.add("b")
    hub.add("b", broken.deliver, broken.fail)
    hub.add("a", healthy.deliver, healthy.fail)
    assert broken.done.wait(30)
    assert broken.items == [("fail", "store unreachable")]
    with jobs.lock:
        jobs.records["a"] = {"state": "FAILED"}
    assert healthy.done.wait(30) and healthy.items == [("final", "FAILED")]


def test_removed_streams_get_nothing_and_closing_fails_the_open_ones():
    jobs = Jobs()
    hub = JobWatchers(jobs.read, lambda state: state in TERMINAL, poll_seconds=0.05)
    gone, open_stream = Stream(), Stream()
    watcher = hub.add("a", gone.deliver, gone.fail)
    hub.remove(watcher)
    hub.add("a", open_stream.deliver, open_stream.fail)
    with jobs.lock:
        jobs.events["a"].append({"epoch": 1})
    assert wait_until(lambda: open_stream.items == [("epoch", 1)])
    hub.close()
    assert open_stream.done.wait(30)
    assert open_stream.items[-1][0] == "fail" and "shutting down" in open_stream.items[-1][1]
    assert gone.items == []
    with pytest.raises(UnavailableError, match="shutting down"):
        hub.add("a", gone.deliver, gone.fail)
