"""The training entrypoint: run one recorded job in this process.

:func:`run_training_job` is the one code path that trains a job. The trainer's job
manager runs it in its worker processes; for a sweep, :func:`run_sweep_index` maps
(sweep id, index) to the job id first — the trainer's worker processes call it for a
local sweep, and every pod of a sweep's Kubernetes Indexed Job calls it through this
module's command line::

    python -m services.trainer.worker --sweep-id sweep-<32 hex> [--index N]

(``--index`` defaults to ``JOB_COMPLETION_INDEX``, which Kubernetes sets; the store
URL and its credentials come from ``MOTIFLENS_STORE`` / ``MOTIFLENS_S3_*`` as for the
services). The command exits 0 once the job's outcome is recorded — FAILED
included, since retrying a deterministic failure wastes a node — and 1 when it could
not record one (store unreachable), so that Kubernetes retries the pod. It reads the job record written by
``Train``, loads the data set, builds the model from the recorded ModelConfig, trains
with the recorded TrainConfig and writes, after every epoch, the checkpoint
(``blobs/job_checkpoints/<job_id>``: weights, optimiser, controller and history, see
:class:`motiflens.training.TrainingState`), the epoch event (``job_events/<job_id>``)
and then the job record (``jobs/<job_id>``), in that order, so the checkpoint never
lags the epochs a reader is told about. Cancellation is a ``job_cancels/<job_id>``
record, checked after every epoch (the run then ends after that epoch, CANCELLED,
without a model). On success the model is stored as an artifact of kind "model"
(``model.keras``, ``model_config.json``, ``train_config.json``, ``history.json``,
``metrics.json``; its id is derived from the job id, so a repeated final step finds
the artifact it wrote before) and the record becomes SUCCEEDED with its id; the
checkpoint is then deleted.

Resume. When a checkpoint exists at start, the run continues after its epoch
(``resumed_from_epoch`` in the record): the event history is rewritten from the
checkpoint, so every epoch appears exactly once however often the job was
interrupted. A corrupt or unreadable checkpoint is logged and training starts over.

Store outages. Every store call of a worker retries for ``retry_seconds``
(``MOTIFLENS_STORE_RETRY_SECONDS``, default 120) with exponential backoff; when the
store stays unreachable longer, :func:`run_training_job` raises UnavailableError
("artifact store unreachable for 120 s: ...") without recording anything, and whoever
runs it re-runs the job from its checkpoint (the trainer re-queues it; Kubernetes
retries the pod). Any other exception becomes FAILED with the message.

Parent death. A pool worker dies with its trainer: :func:`init_pool_worker` asks
Linux for SIGKILL when the parent goes (``PR_SET_PDEATHSIG``), and a watchdog thread
exits the process once its parent pid changes (other systems, or a parent that died
before the request took effect).

TensorFlow uses a GPU when it sees one; worker processes turn on GPU memory growth so
that several workers can share a card. Nothing requires a GPU.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import motiflens
from motiflens.errors import (
    AlreadyExistsError,
    InvalidInputError,
    MotiflensError,
    NotFoundError,
    UnavailableError,
)
from motiflens.training import EpochEvent, TrainingCallback, TrainingState
from services.common.config import DEFAULT_STORE_RETRY_SECONDS, INDEX_ENV
from services.common.labels import set_labels
from services.common.store import (
    ArtifactStore,
    CorruptRecordError,
    Manifest,
    RetryingStore,
    check_id,
    open_store,
    utc_now,
)
from services.trainer.notices import announce

logger = logging.getLogger(__name__)

# Store namespaces and the model artifact kind (services.trainer.jobs uses these too).
JOBS_NAMESPACE = "jobs"
EVENTS_NAMESPACE = "job_events"
CANCELS_NAMESPACE = "job_cancels"
CHECKPOINTS_NAMESPACE = "job_checkpoints"
SWEEPS_NAMESPACE = "sweeps"
MODEL_KIND = "model"
MODEL_ID_PREFIX = "model"
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
RUN_FILES = ("model.keras", "model_config.json", "train_config.json", "history.json", "metrics.json")
MAX_ERROR_CHARS = 2000
#: How often the watchdog compares the parent pid, seconds.
PARENT_POLL_SECONDS = 1.0
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
#: Added to a pool worker's nice value (lower CPU priority than the RPC server).
WORKER_NICENESS = 10

# Set in pool worker processes by init_pool_worker: where to announce "job changed".
_notice_address: str | None = None


def init_pool_worker(
    notice_address: str | None, log_level: int = logging.INFO, parent_pid: int | None = None
) -> None:
    """Initialize a worker process of the trainer's pool (its ``initializer``).

    Parameters
    ----------
    notice_address : str or None
        The manager's :class:`services.trainer.notices.NoticeListener` address; the
        worker sends a job id there after each store write so that WatchJob streams
        wake at once instead of waiting for their next poll.
    log_level : int
        Level of the parent's root logger.
    parent_pid : int, optional
        Pid of the trainer; when given, this process exits as soon as that process is
        gone (see :func:`die_with_parent`).
    """
    global _notice_address
    if parent_pid is not None:
        die_with_parent(parent_pid)
    _notice_address = notice_address
    # Training is batch work sharing the pod's cores with the trainer's RPC threads:
    # a lower CPU priority keeps health checks and GetJob fast while a job trains.
    os.nice(WORKER_NICENESS)
    if not logging.getLogger().handlers:
        from services.common.server import configure_logging

        configure_logging(logging.getLevelName(log_level))
    _enable_gpu_memory_growth()


def die_with_parent(parent_pid: int, *, poll_seconds: float = PARENT_POLL_SECONDS) -> None:
    """Make this process exit when ``parent_pid`` (its parent) is gone.

    A worker left behind by a killed trainer would go on training (and holding its
    memory) for a job nobody watches. On Linux the kernel sends SIGKILL when the
    parent dies (``PR_SET_PDEATHSIG``; strictly, when the parent's thread that
    started this process ends, which for the pool is the supervisor thread that
    lives as long as the manager). A daemon thread also checks ``os.getppid()``
    every ``poll_seconds`` and exits the process once it changed (the parent died
    and this process was re-parented): it covers other systems and a parent that
    died before the request took effect.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            logger.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
    if os.getppid() != parent_pid:
        os._exit(1)  # the parent died before the kernel was told
    watchdog = threading.Thread(
        target=_watch_parent, args=(parent_pid, poll_seconds), name="parent-watchdog", daemon=True
    )
    watchdog.start()


def _watch_parent(parent_pid: int, poll_seconds: float) -> None:
    while os.getppid() == parent_pid:
        time.sleep(poll_seconds)
    logger.error("the trainer (pid %d) is gone; this worker (pid %d) exits", parent_pid, os.getpid())
    os._exit(1)  # no clean-up: the last checkpoint in the store is complete, the epoch under way is lost


def _enable_gpu_memory_growth() -> None:
    """Let TensorFlow allocate GPU memory as needed (no-op without a GPU or once TF has started)."""
    import tensorflow as tf

    try:
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:  # devices already initialized in this process
        pass


def _announce(job_id: str) -> None:
    if _notice_address is not None:
        announce(_notice_address, job_id)  # a lost notice only delays a watcher to its next poll


class JobAbandoned(Exception):
    """The job is no longer this worker's.

    It became terminal behind the worker's back, or another worker took it over (the
    record names another worker, e.g. after another trainer adopted it).
    """


def _check_still_ours(store: ArtifactStore, record: dict) -> None:
    """Raise JobAbandoned unless the stored record is unfinished and still names this worker."""
    current = store.get_record(JOBS_NAMESPACE, record["job_id"])
    if current.get("state") in TERMINAL:
        raise JobAbandoned(f"job {record['job_id']} is {current['state']} already")
    if current.get("worker") != record.get("worker"):
        raise JobAbandoned(f"job {record['job_id']} was taken over by worker {current.get('worker')}")


class _StoreReporter(TrainingCallback):
    """Checkpoints each epoch, writes it to the store and turns a cancel record into ``stop_requested``."""

    checkpoints = True

    def __init__(self, store: ArtifactStore, record: dict, history: list[EpochEvent] | tuple = ()):
        self.store = store
        self.record = record
        self.job_id = record["job_id"]
        self.events: list[dict] = [event.to_dict() for event in history]
        self.cancelled = False
        self._state: TrainingState | None = None

    def on_checkpoint(self, state: TrainingState) -> None:
        self._state = state

    def on_epoch_end(self, event: EpochEvent) -> None:
        _check_still_ours(self.store, self.record)
        # Checkpoint, events, record: a reader told "epochs_done = k" finds k events, and
        # a resumed run finds a checkpoint of epoch k or later.
        if self._state is not None:
            self.store.put_blob(CHECKPOINTS_NAMESPACE, self.job_id, self._state.to_bytes())
            self._state = None
        self.events.append(event.to_dict())
        self.store.put_record(EVENTS_NAMESPACE, self.job_id, {"job_id": self.job_id, "events": self.events})
        self.record.update(epochs_done=event.epoch, updated_at=utc_now())
        self.store.put_record(JOBS_NAMESPACE, self.job_id, self.record)
        _announce(self.job_id)
        if cancel_requested(self.store, self.job_id):
            self.cancelled = True
            self.stop_requested = True
            logger.info("job %s: cancel requested; stopping after epoch %d", self.job_id, event.epoch)


def cancel_requested(store: ArtifactStore, job_id: str) -> bool:
    """Whether cancellation of the job was requested (a record in the cancels namespace)."""
    try:
        store.get_record(CANCELS_NAMESPACE, job_id)
    except NotFoundError:
        return False
    return True


def _write_final(store: ArtifactStore, record: dict, state: str, **fields) -> None:
    try:
        _check_still_ours(store, record)
    except JobAbandoned as exc:
        logger.warning("job %s: not recording %s: %s", record["job_id"], state, exc)
        return
    record.update(state=state, finished_at=utc_now(), updated_at=utc_now(), **fields)
    store.put_record(JOBS_NAMESPACE, record["job_id"], record)
    _announce(record["job_id"])
    logger.info("job %s: %s %s", record["job_id"], state, fields.get("error", ""))
    try:
        store.delete_blob(CHECKPOINTS_NAMESPACE, record["job_id"])
    except MotiflensError:  # a leftover checkpoint only costs space
        logger.warning("job %s: could not delete its checkpoint", record["job_id"], exc_info=True)


def _error_message(exc: BaseException) -> str:
    message = str(exc) if isinstance(exc, MotiflensError) else f"{type(exc).__name__}: {exc}"
    return message[:MAX_ERROR_CHARS]


def load_checkpoint(store: ArtifactStore, job_id: str) -> TrainingState | None:
    """The job's last checkpoint, or None when there is none or it cannot be used (logged)."""
    try:
        return TrainingState.from_bytes(store.get_blob(CHECKPOINTS_NAMESPACE, job_id))
    except NotFoundError:
        return None
    except (CorruptRecordError, InvalidInputError) as exc:
        logger.warning("job %s: ignoring its checkpoint and starting over: %s", job_id, exc)
        return None


def open_job(store_url: str, job_id: str, retry_seconds: float) -> tuple[ArtifactStore, dict] | None:
    """The store (retrying through outages) and the job's record, or None when there is nothing to run.

    Every job entrypoint (training, attribution, motifs, variants) starts here: a job
    finished already is left alone, and one whose cancellation was requested before it
    started is recorded CANCELLED.
    """
    store = RetryingStore(open_store(store_url), retry_seconds)
    record = store.get_record(JOBS_NAMESPACE, job_id)
    if record.get("state") in TERMINAL:
        logger.info("job %s: already %s; nothing to do", job_id, record["state"])
        return None
    if cancel_requested(store, job_id):
        _write_final(store, record, "CANCELLED", error="cancelled by request before it started")
        return None
    return store, record


def run_training_job(
    store_url: str, job_id: str, *, retry_seconds: float = float(DEFAULT_STORE_RETRY_SECONDS)
) -> None:
    """Train the job ``job_id`` recorded in the store at ``store_url``; record the outcome.

    Returns when the job is SUCCEEDED, FAILED or CANCELLED in the store (or was already
    terminal, or was taken away). A job with a checkpoint continues after its epoch.
    Failures are recorded, not raised, except an unreachable store.

    Parameters
    ----------
    store_url : str
        ``file:///...`` or ``s3://bucket/prefix?endpoint=...``.
    job_id : str
        A job written by the trainer's ``Train`` (state PENDING or RUNNING).
    retry_seconds : float, default 120
        How long each store call retries through an outage.

    Raises
    ------
    UnavailableError
        The store stayed unreachable for ``retry_seconds``; nothing more was recorded,
        and running the job again resumes it from its checkpoint.
    """
    opened = open_job(store_url, job_id, retry_seconds)
    if opened is None:
        return
    store, record = opened
    checkpoint = _begin(store, record)
    try:
        _train(store, record, checkpoint)
    except JobAbandoned as exc:
        logger.warning("job %s: abandoned: %s", job_id, exc)
    except UnavailableError:
        logger.exception("job %s: the store is unreachable; leaving the job to be resumed", job_id)
        raise
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the job
        logger.exception("job %s failed", job_id)
        _write_final(store, record, "FAILED", error=_error_message(exc))


def _begin(store: ArtifactStore, record: dict) -> TrainingState | None:
    """Claim the job for this process (RUNNING, our pid) and restore its events from the checkpoint."""
    job_id = record["job_id"]
    checkpoint = load_checkpoint(store, job_id)
    done = checkpoint.epochs_done if checkpoint else 0
    # The events are rewritten from the checkpoint before the record counts them, so
    # epochs of an interrupted attempt after its checkpoint are never listed twice.
    events = [event.to_dict() for event in checkpoint.history] if checkpoint else []
    store.put_record(EVENTS_NAMESPACE, job_id, {"job_id": job_id, "events": events})
    if record.get("state") == "RUNNING" and not record.get("owner") and record.get("worker"):
        # A job no manager owns (a Kubernetes sweep pod's) that an earlier worker claimed
        # and left RUNNING: that pod was preempted or killed, and Kubernetes started this
        # one for the same index. Count its resume here (a job manager counts those of
        # its own jobs when it re-queues them, and marks them RUNNING before dispatch).
        previous = record.get("worker") or {}
        record["resumes"] = int(record.get("resumes") or 0) + 1
        record["last_interruption"] = (
            f"interrupted: its worker on {previous.get('host', '?')} (pid {previous.get('pid', '?')}) "
            "stopped before the job finished (a preempted or restarted pod)"
        )
    record.update(
        state="RUNNING",
        started_at=record.get("started_at") or utc_now(),
        updated_at=utc_now(),
        epochs_done=done,
        worker={"host": socket.gethostname(), "pid": os.getpid(), "attempt": uuid.uuid4().hex[:12]},
    )
    if checkpoint is not None or record.get("resumes"):
        record["resumed_from_epoch"] = done  # 0: interrupted before its first checkpoint
        logger.info("job %s: resuming after epoch %d", job_id, done)
    store.put_record(JOBS_NAMESPACE, job_id, record)
    _announce(job_id)
    return checkpoint


def model_id_for(job_id: str) -> str:
    """The id of the model artifact of ``job_id``: ``model-`` and the job's hex digits."""
    return f"{MODEL_ID_PREFIX}-{job_id.split('-', 1)[1]}"


def _train(store: ArtifactStore, record: dict, checkpoint: TrainingState | None = None) -> None:
    # Heavy imports here, so that importing this module (the job manager does) stays cheap.
    from motiflens.models import ModelConfig, build_model
    from motiflens.training import TrainConfig, train
    from services.common.datasets import load_dataset

    _enable_gpu_memory_growth()
    job_id = record["job_id"]
    dataset, _ = load_dataset(store, record["dataset_id"])
    model_config = ModelConfig.from_dict(record["model_config"])
    train_config = TrainConfig(**record["train_config"])
    model = build_model(model_config)
    reporter = _StoreReporter(store, record, checkpoint.history if checkpoint else ())
    logger.info(
        "job %s: training %s/%s on %s (%d sequences)",
        job_id,
        model_config.architecture,
        model_config.activation,
        record["dataset_id"],
        len(dataset.train),
    )
    result = train(model, dataset, train_config, callbacks=[reporter], resume=checkpoint)
    record["best_epoch"] = result.best_epoch
    record["stopped_by"] = result.stopped_by
    if reporter.cancelled or cancel_requested(store, job_id):
        _write_final(
            store, record, "CANCELLED", error=f"cancelled by request after epoch {len(result.history)}"
        )
        return
    _check_still_ours(store, record)
    manifest = _store_model(store, record, result)
    _write_final(
        store,
        record,
        "SUCCEEDED",
        model_id=manifest.artifact_id,
        test_metrics=manifest.metadata["test_metrics"],
        epochs_done=len(result.history),
        error="",
    )


def _store_model(store: ArtifactStore, record: dict, result) -> Manifest:
    """Store the trained model (see :func:`_put_model`), then give it the job's labels."""
    manifest = _put_model(store, record, result)
    if record.get("labels"):
        set_labels(store, manifest.artifact_id, record["labels"])
    return manifest


def _put_model(store: ArtifactStore, record: dict, result) -> Manifest:
    """Store the trained model as the job's artifact, or return the one an earlier attempt stored."""
    from motiflens.training import write_run

    job_id = record["job_id"]
    model_config = record["model_config"]
    with tempfile.TemporaryDirectory(prefix="motiflens-run-") as tmp:
        write_run(result, tmp)
        objects = {name: Path(tmp) / name for name in RUN_FILES}
        try:
            return store.put_artifact(
                MODEL_KIND,
                objects,
                artifact_id=model_id_for(job_id),
                metadata={
                    "job_id": job_id,
                    "dataset_id": record["dataset_id"],
                    "name": record.get("name", ""),
                    "model_config": model_config,
                    "train_config": record["train_config"],
                    "test_metrics": result.test_metrics,
                    "input_length": model_config["input_length"],
                    "num_outputs": model_config["num_outputs"],
                    "best_epoch": result.best_epoch,
                    "epochs_run": len(result.history),
                },
                provenance={
                    "dataset_id": record["dataset_id"],
                    "job_id": job_id,
                    "model_config": model_config,
                    "train_config": record["train_config"],
                    "seed": model_config["seed"],
                    "code_version": motiflens.__version__,
                    "summary": result.summary(),
                },
            )
        except AlreadyExistsError:
            # An earlier attempt stored it and was interrupted before recording SUCCEEDED.
            logger.info("job %s: its model %s exists already", job_id, model_id_for(job_id))
            return store.get_manifest(model_id_for(job_id), kind=MODEL_KIND)


def sweep_job_id(store: ArtifactStore, sweep_id: str, index: int) -> str:
    """The job id of configuration ``index`` of a sweep (its grid order).

    Raises
    ------
    NotFoundError
        No such sweep.
    InvalidInputError
        ``index`` outside 0 .. n-1.
    """
    try:
        record = store.get_record(SWEEPS_NAMESPACE, sweep_id)
    except NotFoundError:
        raise NotFoundError(f"sweep_id: no sweep {sweep_id!r} in {store.url}") from None
    job_ids = record["job_ids"]
    if not 0 <= index < len(job_ids):
        raise InvalidInputError(
            f"index: sweep {sweep_id} has configurations 0..{len(job_ids) - 1}, got {index}"
        )
    return job_ids[index]


def run_sweep_index(
    store_url: str, sweep_id: str, index: int, *, retry_seconds: float = float(DEFAULT_STORE_RETRY_SECONDS)
) -> str:
    """Train configuration ``index`` of sweep ``sweep_id``; return its job id.

    The entrypoint of both sweep executors: the trainer's worker processes call it
    for a local sweep, each pod of a Kubernetes Indexed Job through :func:`main`.
    Outcomes are recorded as by :func:`run_training_job` (``retry_seconds`` likewise).
    """
    job_id = sweep_job_id(RetryingStore(open_store(store_url), retry_seconds), sweep_id, index)
    logger.info("sweep %s index %d: job %s", sweep_id, index, job_id)
    run_training_job(store_url, job_id, retry_seconds=retry_seconds)
    return job_id


def main(argv: list[str] | None = None) -> int:
    """``python -m services.trainer.worker (--sweep-id | --attribution-job | --variants-job) ID [--index N]``.

    One sweep configuration, or one shard of an attribution job (see
    :mod:`services.trainer.attribution_worker`).

    Returns the exit status: 0 when the outcome is recorded, 1 when it could not be
    (Kubernetes then retries the pod), 2 for bad arguments or settings.
    """
    import argparse

    from services.common.config import ConfigError, JobSettings, Settings, sweep_index_from_env
    from services.common.server import configure_logging

    parser = argparse.ArgumentParser(
        prog="python -m services.trainer.worker",
        description="Train one configuration of a sweep (the pod command of a sweep's Indexed Job).",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--sweep-id", help="the sweep (sweep-<32 hex>)")
    target.add_argument("--attribution-job", help="an attribution job (job-<32 hex>); the index is the shard")
    target.add_argument("--variants-job", help="a variant scoring job (job-<32 hex>); the index is the shard")
    parser.add_argument(
        "--index",
        type=int,
        default=None,
        help=f"configuration index (default: ${INDEX_ENV}, set by Kubernetes for Indexed Jobs)",
    )
    args = parser.parse_args(argv)
    index = args.index
    if index is None:
        try:
            index = sweep_index_from_env()
        except ConfigError as exc:
            parser.error(f"--index not given, and {exc}")
    try:
        settings = Settings.from_env("trainer")
        job_settings = JobSettings.from_env()
    except (ConfigError, ValueError) as exc:
        parser.error(str(exc))
    configure_logging(settings.log_level)
    what = (
        f"sweep {args.sweep_id}"
        if args.sweep_id
        else f"attribution job {args.attribution_job}"
        if args.attribution_job
        else f"variants job {args.variants_job}"
    )
    try:
        if args.sweep_id:
            run_sweep_index(
                settings.store_url, args.sweep_id, index, retry_seconds=job_settings.store_retry_seconds
            )
        elif args.variants_job:
            from services.trainer.variants_jobs import run_variants_job

            check_id(args.variants_job, field_name="variants_job", prefix="job")
            run_variants_job(
                settings.store_url,
                args.variants_job,
                shard=index,
                retry_seconds=job_settings.store_retry_seconds,
            )
        else:
            from services.trainer.attribution_worker import run_attribution_job

            check_id(args.attribution_job, field_name="attribution_job", prefix="job")
            run_attribution_job(
                settings.store_url,
                args.attribution_job,
                shard=index,
                retry_seconds=job_settings.store_retry_seconds,
            )
    except (InvalidInputError, NotFoundError) as exc:  # retrying cannot help
        logger.error("%s index %d: %s", what, index, exc)
        return 2
    except Exception:  # noqa: BLE001 - e.g. the store went away while recording
        logger.exception("%s index %d: could not record an outcome", what, index)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
