"""Store records and blobs on the real file backend: checksums, legacy records, corruption, retries.

The S3 backend runs the same code paths against a loopback server in
``tests/service/test_job_resilience.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from pathlib import Path

import grpc
import pytest

from motiflens.errors import NotFoundError, UnavailableError
from services.common.errors import status_for
from services.common.store import (
    RECORD_FORMAT,
    CorruptRecordError,
    RetryingStore,
    open_store,
)
from services.common.store.file import FileStore

JOB = {
    "job_id": "job-1",
    "state": "RUNNING",
    "epochs_done": 3,
    "loss": [0.5, float("nan")],
    "nested": {"b": 1},
}


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return open_store((tmp_path / "store").as_uri())


def record_path(store: FileStore, namespace: str, key: str) -> Path:
    return store.root / "records" / namespace / f"{key}.json"


def test_record_is_stored_with_the_sha256_of_its_canonical_json(store: FileStore):
    store.put_record("jobs", "job-1", JOB)
    stored = json.loads(record_path(store, "jobs", "job-1").read_text())
    assert set(stored) == {"format", "sha256", "record"} and stored["format"] == RECORD_FORMAT
    canonical = json.dumps(stored["record"], sort_keys=True, separators=(",", ":")).encode()
    assert stored["sha256"] == hashlib.sha256(canonical).hexdigest()
    back = store.get_record("jobs", "job-1")
    assert back["epochs_done"] == 3 and back["nested"] == {"b": 1} and back["loss"][0] == 0.5
    assert back["loss"][1] != back["loss"][1]  # NaN survives the round trip and the checksum
    # The write went through a temporary file renamed into place: nothing else is left.
    assert sorted(p.name for p in record_path(store, "jobs", "job-1").parent.iterdir()) == ["job-1.json"]


def test_records_written_before_checksums_are_still_read(store: FileStore):
    path = record_path(store, "jobs", "job-old")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"job_id": "job-old", "state": "SUCCEEDED"}))
    assert store.get_record("jobs", "job-old") == {"job_id": "job-old", "state": "SUCCEEDED"}
    assert store.list_records("jobs") == [{"job_id": "job-old", "state": "SUCCEEDED"}]


def test_truncated_or_edited_records_are_corrupt_and_failed_precondition(store: FileStore):
    store.put_record("jobs", "job-1", JOB)
    path = record_path(store, "jobs", "job-1")
    full = path.read_bytes()
    path.write_bytes(full[:40])
    with pytest.raises(CorruptRecordError, match=r"records/jobs/job-1\.json is corrupt \(40 bytes"):
        store.get_record("jobs", "job-1")
    # Still valid JSON, one value changed: only the checksum notices.
    path.write_bytes(full.replace(b'"epochs_done": 3', b'"epochs_done": 9'))
    assert b'"epochs_done": 9' in path.read_bytes()
    with pytest.raises(CorruptRecordError, match="sha256 does not match") as info:
        store.get_record("jobs", "job-1")
    code, message = status_for(info.value)
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "records/jobs/job-1.json" in message
    path.write_bytes(b"[1, 2]")
    with pytest.raises(CorruptRecordError, match="a JSON list, not an object"):
        store.get_record("jobs", "job-1")


def test_listing_skips_a_corrupt_record_and_warns_once(store: FileStore, caplog):
    for key in ("job-1", "job-2", "job-3"):
        store.put_record("jobs", key, {**JOB, "job_id": key})
    record_path(store, "jobs", "job-2").write_bytes(b'{"format": "motiflens.record.v1", "sha2')
    with caplog.at_level(logging.WARNING, logger="services.common.store"):
        for _ in range(3):
            listed = sorted(r["job_id"] for r in store.list_records("jobs"))
            assert listed == ["job-1", "job-3"]
    warnings = [r.getMessage() for r in caplog.records if "job-2" in r.getMessage()]
    assert len(warnings) == 1 and "skipping it in listings" in warnings[0]


def test_blobs_round_trip_detect_corruption_and_delete(store: FileStore):
    data = bytes(range(256)) * 1000
    store.put_blob("job_checkpoints", "job-1", data)
    assert store.get_blob("job_checkpoints", "job-1") == data
    path = store.root / "blobs" / "job_checkpoints" / "job-1"
    stored = path.read_bytes()
    path.write_bytes(stored[: len(stored) // 2])
    with pytest.raises(CorruptRecordError, match="blobs/job_checkpoints/job-1 is corrupt"):
        store.get_blob("job_checkpoints", "job-1")
    store.delete_blob("job_checkpoints", "job-1")
    store.delete_blob("job_checkpoints", "job-1")  # deleting a missing blob is fine
    with pytest.raises(NotFoundError):
        store.get_blob("job_checkpoints", "job-1")


def block_records(store: FileStore) -> Path:
    """Make every record write fail for real: a plain file where the records directory goes."""
    blocker = store.root / "records"
    blocker.write_text("not a directory")
    return blocker


def test_retrying_store_rides_out_an_outage(store: FileStore):
    blocker = block_records(store)
    with pytest.raises(UnavailableError):
        store.put_record("jobs", "job-1", JOB)  # the plain store fails at once
    retrying = RetryingStore(store, retry_seconds=30, first_delay=0.1, max_delay=0.2)
    timer = threading.Timer(1.0, blocker.unlink)
    timer.start()
    started = time.monotonic()
    retrying.put_record("jobs", "job-1", JOB)
    elapsed = time.monotonic() - started
    timer.join()
    assert 0.9 <= elapsed < 10
    assert store.get_record("jobs", "job-1")["epochs_done"] == 3
    # Errors a retry cannot fix are raised at once.
    started = time.monotonic()
    with pytest.raises(NotFoundError):
        retrying.get_record("jobs", "job-2")
    assert time.monotonic() - started < 0.5


def test_retrying_store_gives_up_after_its_window_naming_it(store: FileStore):
    block_records(store)
    retrying = RetryingStore(store, retry_seconds=1.5, first_delay=0.2, max_delay=0.4)
    started = time.monotonic()
    with pytest.raises(UnavailableError) as info:
        retrying.put_record("jobs", "job-1", JOB)
    elapsed = time.monotonic() - started
    assert 1.4 <= elapsed < 5
    message = str(info.value)
    assert message.startswith(
        f"artifact store unreachable for 1.5 s: artifact store {store.url} is unavailable"
    )
    assert "while writing records/jobs/job-1.json" in message
