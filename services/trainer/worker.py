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
with the recorded TrainConfig and writes, after every epoch, the epoch event
(``job_events/<job_id>``) and then the job record (``jobs/<job_id>``). Cancellation is
a ``job_cancels/<job_id>`` record, checked after every epoch (the run then ends after
that epoch, CANCELLED, without a model). On success the model is stored as an
artifact of kind "model" (``model.keras``, ``model_config.json``, ``train_config.json``,
``history.json``, ``metrics.json``) and the record becomes SUCCEEDED with its id. Any
exception becomes FAILED with the message.

TensorFlow uses a GPU when it sees one; worker processes turn on GPU memory growth so
that several workers can share a card. Nothing requires a GPU.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
from pathlib import Path

import motiflens
from motiflens.errors import InvalidInputError, MotiflensError, NotFoundError
from motiflens.training import EpochEvent, TrainingCallback
from services.common.store import ArtifactStore, open_store, utc_now

logger = logging.getLogger(__name__)

# Store namespaces and the model artifact kind (services.trainer.jobs uses these too).
JOBS_NAMESPACE = "jobs"
EVENTS_NAMESPACE = "job_events"
CANCELS_NAMESPACE = "job_cancels"
SWEEPS_NAMESPACE = "sweeps"
INDEX_ENV = "JOB_COMPLETION_INDEX"
MODEL_KIND = "model"
MODEL_ID_PREFIX = "model"
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
RUN_FILES = ("model.keras", "model_config.json", "train_config.json", "history.json", "metrics.json")
MAX_ERROR_CHARS = 2000

# Set in pool worker processes by init_pool_worker: where to announce "job changed".
_notices = None


def init_pool_worker(notices, log_level: int = logging.INFO) -> None:
    """Initialise a worker process of the trainer's pool (its ``initializer``).

    Parameters
    ----------
    notices : multiprocessing.Queue
        The manager's queue; the worker puts a job id on it after each store write so
        that WatchJob streams wake at once instead of waiting for their next poll.
    log_level : int
        Level of the parent's root logger.
    """
    global _notices
    _notices = notices
    # Never wait at exit for undelivered notices (the manager may be gone).
    notices.cancel_join_thread()
    if not logging.getLogger().handlers:
        from services.common.server import configure_logging

        configure_logging(logging.getLevelName(log_level))
    _enable_gpu_memory_growth()


def _enable_gpu_memory_growth() -> None:
    """Let TensorFlow allocate GPU memory as needed (no-op without a GPU or once TF has started)."""
    import tensorflow as tf

    try:
        for gpu in tf.config.list_physical_devices("GPU"):
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:  # devices already initialised in this process
        pass


def _announce(job_id: str) -> None:
    if _notices is not None:
        try:
            _notices.put_nowait(job_id)
        except Exception:  # noqa: BLE001 - a lost notice only delays a watcher to its next poll
            pass


class JobAbandoned(Exception):
    """The job record became terminal behind this worker's back (e.g. marked interrupted)."""


class _StoreReporter(TrainingCallback):
    """Writes each epoch to the store and turns a cancel record into ``stop_requested``."""

    def __init__(self, store: ArtifactStore, record: dict):
        self.store = store
        self.record = record
        self.job_id = record["job_id"]
        self.events: list[dict] = []
        self.cancelled = False

    def on_epoch_end(self, event: EpochEvent) -> None:
        current = self.store.get_record(JOBS_NAMESPACE, self.job_id)
        if current.get("state") in TERMINAL:
            raise JobAbandoned(f"job {self.job_id} is {current['state']} already")
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
    current = store.get_record(JOBS_NAMESPACE, record["job_id"])
    if current.get("state") in TERMINAL:
        logger.warning("job %s: is %s already; not recording %s", record["job_id"], current["state"], state)
        return
    record.update(state=state, finished_at=utc_now(), updated_at=utc_now(), **fields)
    store.put_record(JOBS_NAMESPACE, record["job_id"], record)
    _announce(record["job_id"])
    logger.info("job %s: %s %s", record["job_id"], state, fields.get("error", ""))


def _error_message(exc: BaseException) -> str:
    message = str(exc) if isinstance(exc, MotiflensError) else f"{type(exc).__name__}: {exc}"
    return message[:MAX_ERROR_CHARS]


def run_training_job(store_url: str, job_id: str) -> None:
    """Train the job ``job_id`` recorded in the store at ``store_url``; record the outcome.

    Returns when the job is SUCCEEDED, FAILED or CANCELLED in the store (or was already
    terminal, or was taken away by an orphan sweep). Failures are recorded, not raised;
    only an error while recording them (store unreachable) propagates.

    Parameters
    ----------
    store_url : str
        ``file:///...`` or ``s3://bucket/prefix?endpoint=...``.
    job_id : str
        A job written by the trainer's ``Train`` (state PENDING or RUNNING).
    """
    store = open_store(store_url)
    record = store.get_record(JOBS_NAMESPACE, job_id)
    if record.get("state") in TERMINAL:
        logger.info("job %s: already %s; nothing to do", job_id, record["state"])
        return
    if cancel_requested(store, job_id):
        _write_final(store, record, "CANCELLED", error="cancelled by request before it started")
        return
    record.update(
        state="RUNNING",
        started_at=record.get("started_at") or utc_now(),
        updated_at=utc_now(),
        worker={"host": socket.gethostname(), "pid": os.getpid()},
    )
    store.put_record(JOBS_NAMESPACE, job_id, record)
    _announce(job_id)
    try:
        _train(store, record)
    except JobAbandoned as exc:
        logger.warning("job %s: abandoned: %s", job_id, exc)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the job
        logger.exception("job %s failed", job_id)
        _write_final(store, record, "FAILED", error=_error_message(exc))


def _train(store: ArtifactStore, record: dict) -> None:
    # Heavy imports here, so that importing this module (the job manager does) stays cheap.
    from motiflens.models import ModelConfig, build_model
    from motiflens.training import TrainConfig, train, write_run
    from services.trainer.datasets import load_dataset

    _enable_gpu_memory_growth()
    job_id = record["job_id"]
    dataset, _ = load_dataset(store, record["dataset_id"])
    model_config = ModelConfig.from_dict(record["model_config"])
    train_config = TrainConfig(**record["train_config"])
    model = build_model(model_config)
    reporter = _StoreReporter(store, record)
    logger.info(
        "job %s: training %s/%s on %s (%d sequences)",
        job_id,
        model_config.architecture,
        model_config.activation,
        record["dataset_id"],
        len(dataset.train),
    )
    result = train(model, dataset, train_config, callbacks=[reporter])
    record["best_epoch"] = result.best_epoch
    record["stopped_by"] = result.stopped_by
    if reporter.cancelled or cancel_requested(store, job_id):
        _write_final(
            store, record, "CANCELLED", error=f"cancelled by request after epoch {len(result.history)}"
        )
        return
    with tempfile.TemporaryDirectory(prefix="motiflens-run-") as tmp:
        write_run(result, tmp)
        objects = {name: Path(tmp) / name for name in RUN_FILES}
        manifest = store.put_artifact(
            MODEL_KIND,
            objects,
            id_prefix=MODEL_ID_PREFIX,
            metadata={
                "job_id": job_id,
                "dataset_id": record["dataset_id"],
                "name": record.get("name", ""),
                "model_config": record["model_config"],
                "train_config": record["train_config"],
                "test_metrics": result.test_metrics,
                "input_length": model_config.input_length,
                "num_outputs": model_config.num_outputs,
                "best_epoch": result.best_epoch,
                "epochs_run": len(result.history),
            },
            provenance={
                "dataset_id": record["dataset_id"],
                "job_id": job_id,
                "model_config": record["model_config"],
                "train_config": record["train_config"],
                "seed": model_config.seed,
                "code_version": motiflens.__version__,
                "summary": result.summary(),
            },
        )
    _write_final(
        store,
        record,
        "SUCCEEDED",
        model_id=manifest.artifact_id,
        test_metrics=result.test_metrics,
        epochs_done=len(result.history),
        error="",
    )


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


def run_sweep_index(store_url: str, sweep_id: str, index: int) -> str:
    """Train configuration ``index`` of sweep ``sweep_id``; return its job id.

    The entrypoint of both sweep executors: the trainer's worker processes call it
    for a local sweep, each pod of a Kubernetes Indexed Job through :func:`main`.
    Outcomes are recorded as by :func:`run_training_job`.
    """
    job_id = sweep_job_id(open_store(store_url), sweep_id, index)
    logger.info("sweep %s index %d: job %s", sweep_id, index, job_id)
    run_training_job(store_url, job_id)
    return job_id


def main(argv: list[str] | None = None) -> int:
    """``python -m services.trainer.worker --sweep-id ID [--index N]``: one sweep configuration.

    Returns the exit status: 0 when the outcome is recorded, 1 when it could not be
    (Kubernetes then retries the pod), 2 for bad arguments or settings.
    """
    import argparse

    from services.common.config import ConfigError, Settings
    from services.common.server import configure_logging

    parser = argparse.ArgumentParser(
        prog="python -m services.trainer.worker",
        description="Train one configuration of a sweep (the pod command of a sweep's Indexed Job).",
    )
    parser.add_argument("--sweep-id", required=True, help="the sweep (sweep-<32 hex>)")
    parser.add_argument(
        "--index",
        type=int,
        default=None,
        help=f"configuration index (default: ${INDEX_ENV}, set by Kubernetes for Indexed Jobs)",
    )
    args = parser.parse_args(argv)
    index = args.index
    if index is None:
        raw = os.environ.get(INDEX_ENV, "")
        if not raw.strip().isdigit():
            parser.error(f"--index not given and {INDEX_ENV} is {raw!r}; expected a non-negative integer")
        index = int(raw)
    try:
        settings = Settings.from_env("trainer")
    except ConfigError as exc:
        parser.error(str(exc))
    configure_logging(settings.log_level)
    try:
        run_sweep_index(settings.store_url, args.sweep_id, index)
    except (InvalidInputError, NotFoundError) as exc:  # retrying cannot help
        logger.error("sweep %s index %d: %s", args.sweep_id, index, exc)
        return 2
    except Exception:  # noqa: BLE001 - e.g. the store went away while recording
        logger.exception("sweep %s index %d: could not record an outcome", args.sweep_id, index)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
