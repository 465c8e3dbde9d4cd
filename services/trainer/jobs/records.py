"""Job records in the store: the states, the namespaces and messages, and reading them.

:class:`JobState` and :func:`is_terminal`; the record namespaces (``jobs``,
``job_events``, ``job_cancels``, ``job_checkpoints`` from :mod:`services.trainer.worker`,
which writes them too, and ``trainers`` for heartbeats); the fixed ``error`` /
``last_interruption`` texts; and the readers :func:`read_job`, :func:`read_events`
and :func:`list_models`; :func:`new_job_record` and :func:`count_by_state`. The
record fields are described in :mod:`services.trainer.jobs`.
"""

from __future__ import annotations

import enum
import time

from motiflens.errors import NotFoundError
from services.common.datasets import get_dataset_info
from services.common.store import ArtifactStore, CorruptRecordError, Manifest, check_id, utc_now
from services.trainer.worker import (  # noqa: F401  (cancel_requested is part of the jobs API)
    CANCELS_NAMESPACE,
    CHECKPOINTS_NAMESPACE,
    EVENTS_NAMESPACE,
    JOBS_NAMESPACE,
    MODEL_KIND,
    cancel_requested,
)

TRAINERS_NAMESPACE = "trainers"
JOB_ID_PREFIX = "job"

#: ``last_interruption`` of a job adopted from a trainer that is gone.
INTERRUPTED_ERROR = "interrupted: the trainer that ran it stopped or died before the job finished"
#: ``last_interruption`` of the jobs a closing trainer leaves for the next one.
SHUTDOWN_NOTE = "interrupted: the trainer shut down before the job finished; it resumes when a trainer starts"
#: ``error`` of a job accepted while the trainer was closing (the caller got UNAVAILABLE).
SHUTDOWN_ERROR = "interrupted: the trainer shut down while accepting the job; start it again"
WORKER_DIED = "the worker process died (killed, out of memory or crashed)"
CANCELLED_QUEUED = "cancelled by request before it started"


class JobState(enum.StrEnum):
    """Job lifecycle; the values are the proto names without the ``JOB_STATE_`` prefix."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


def is_terminal(state: str) -> bool:
    """Whether a job in ``state`` is finished (SUCCEEDED, FAILED or CANCELLED)."""
    return state in TERMINAL_STATES


def check_job_id(job_id: str) -> str:
    """Return ``job_id`` if well formed ("job-<32 hex>"), else raise InvalidInputError."""
    return check_id(job_id, field_name="job_id", prefix=JOB_ID_PREFIX)


def read_job(store: ArtifactStore, job_id: str) -> dict:
    """The job record.

    Raises
    ------
    InvalidInputError, NotFoundError
        Malformed or unknown id.
    CorruptRecordError
        The stored record is damaged (FAILED_PRECONDITION over gRPC; the message names the id).
    """
    check_job_id(job_id)
    try:
        return store.get_record(JOBS_NAMESPACE, job_id)
    except NotFoundError:
        raise NotFoundError(f"job_id: no job {job_id!r}") from None
    except CorruptRecordError as exc:
        raise CorruptRecordError(f"job_id: the record of job {job_id!r} is unreadable: {exc}") from None


def read_events(store: ArtifactStore, job_id: str) -> list[dict]:
    """The job's epoch events so far (EpochEvent dicts, epoch order); [] before the first."""
    try:
        return list(store.get_record(EVENTS_NAMESPACE, job_id).get("events", []))
    except NotFoundError:
        return []


def list_models(store: ArtifactStore, dataset_id: str = "") -> list[Manifest]:
    """Manifests of trained models, newest first, optionally only those of one data set.

    Raises
    ------
    InvalidInputError, NotFoundError
        ``dataset_id`` given but malformed or unknown.
    """
    if dataset_id:
        get_dataset_info(store, dataset_id)
    models = store.list_artifacts(MODEL_KIND)
    if dataset_id:
        models = [m for m in models if m.metadata.get("dataset_id") == dataset_id]
    return models


def new_job_record(
    job_id: str,
    dataset_id: str,
    model_config: dict,
    train_config: dict,
    name: str,
    *,
    owner: str,
    sweep_id: str = "",
    sweep_index: int = 0,
    executor: str = "local",
    labels: dict[str, str] | None = None,
) -> dict:
    """A PENDING job record (the fields are described in :mod:`services.trainer.jobs`).

    ``owner`` is the id of the manager that runs it; "" for a kubernetes job (its pods
    run it, GetSweep reconciles it).
    """
    return {
        "job_id": job_id,
        "state": JobState.PENDING.value,
        "dataset_id": dataset_id,
        "name": name,
        "model_config": model_config,
        "train_config": train_config,
        "epochs_done": 0,
        "best_epoch": 0,
        "stopped_by": "",
        "model_id": "",
        "test_metrics": None,
        "error": "",
        "created_at": utc_now(),
        "created_time": time.time(),
        "started_at": "",
        "finished_at": "",
        "owner": owner,
        "executor": executor,
        "sweep_id": sweep_id,
        "sweep_index": sweep_index,
        "worker": None,
        "labels": dict(labels or {}),
    }


def count_by_state(store: ArtifactStore) -> dict[str, int]:
    """Number of job records in ``store`` per state value (every state present, 0 when none)."""
    counts = dict.fromkeys((state.value for state in JobState), 0)
    for record in store.list_records(JOBS_NAMESPACE):
        if record.get("state") in counts:
            counts[record["state"]] += 1
    return counts
