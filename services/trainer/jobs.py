"""Training jobs: validation, a queue, worker processes, and job state kept in the store.

Process model
-------------
``Train`` validates the request in the RPC thread (data set exists; the model builds
for the data set's L and T; the training settings are valid), writes a PENDING job
record and puts the job on this manager's queue; it never trains in an RPC thread.
A supervisor thread hands queued jobs to a :class:`concurrent.futures.ProcessPoolExecutor`
('spawn' context, ``concurrency`` worker processes) as worker slots free up, so a
queued job stays PENDING (and is cancelled at once) until a process takes it. The
worker runs :func:`services.trainer.worker.run_training_job` — the same entrypoint a
Kubernetes Job will call — which loads the data set, trains, stores the model artifact
and records every step in the store. At most ``queue_limit`` jobs may be pending or
running in one manager; beyond that ``Train`` raises ResourceExhaustedError.

State records
-------------
Everything about a job lives in the store, so a restarted trainer and other replicas
see it:

- ``jobs/<job_id>``: state, the resolved ModelConfig and TrainConfig, dataset id,
  name, timestamps (RFC 3339 ``created_at``/``started_at``/``finished_at``),
  ``epochs_done``, ``model_id``, ``test_metrics``, ``error``, ``owner`` (the id of the
  manager that accepted it) and ``worker`` (host and pid of the process running it);
  ``executor`` ("local", or "kubernetes" for a job a sweep's pod runs; such jobs have
  no owner and the orphan sweep leaves them to GetSweep's reconciliation), and for a
  sweep's jobs ``sweep_id`` and ``sweep_index`` (see :mod:`services.trainer.sweeps`);
- ``job_events/<job_id>``: ``{"events": [EpochEvent dicts]}``, rewritten after each
  epoch before the job record, so a reader of the job record then the events never
  misses an epoch the record counts;
- ``job_cancels/<job_id>``: present once cancellation of a running job was requested.
  It is a separate record so that the worker's per-epoch writes and a cancel request
  never overwrite each other; the worker checks it after every epoch;
- ``trainers/<manager_id>``: a heartbeat (host, pid, time) written every
  ``heartbeat_seconds`` by each live manager and marked stopped on close.

State changes: the manager writes PENDING (accepted), RUNNING (handed to a worker),
CANCELLED (cancelled while queued) and FAILED (worker process died, or interrupted);
the worker writes RUNNING with its pid, each epoch, and the final SUCCEEDED, FAILED
or CANCELLED.

Restart choice: FAILED, no resume
---------------------------------
On start-up, and every ``orphan_sweep_seconds`` after, the manager lists the job
records; a PENDING or RUNNING job whose owner is not a live manager (no heartbeat
record, a stopped one, or one older than three heartbeats) is marked FAILED with
:data:`INTERRUPTED_ERROR`. We chose FAILED over resuming: the paper's recipe
(plateau schedule, best-weight restore, early stopping) would need its optimiser and
controller state checkpointed each epoch to resume faithfully, and a clear failure
with "start a new job" is better than a silently different run. A manager that is
closed marks its own queued and running jobs FAILED the same way (interrupted:
the trainer shut down ...) and stops its worker processes. A job owned by another
live replica is left alone. A worker that outlives its manager notices the FAILED
record at its next epoch and stops without overwriting it.
"""

from __future__ import annotations

import enum
import logging
import math
import multiprocessing
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass

from motiflens.errors import (
    InvalidInputError,
    NotFoundError,
    ResourceExhaustedError,
    UnavailableError,
)
from motiflens.models import INITIALIZERS, ModelConfig, build_model
from motiflens.training import TrainConfig
from services.common.config import parse_int_setting
from services.common.store import ArtifactStore, Manifest, check_id, new_id, open_store, utc_now
from services.trainer import worker
from services.trainer.datasets import get_dataset_info
from services.trainer.worker import (  # noqa: F401  (cancel_requested is part of this module's API)
    CANCELS_NAMESPACE,
    EVENTS_NAMESPACE,
    JOBS_NAMESPACE,
    MODEL_KIND,
    cancel_requested,
)

logger = logging.getLogger(__name__)

TRAINERS_NAMESPACE = "trainers"
JOB_ID_PREFIX = "job"

INTERRUPTED_ERROR = "interrupted: the trainer restarted before the job finished (no resume; start a new job)"
SHUTDOWN_ERROR = "interrupted: the trainer shut down before the job finished (no resume; start a new job)"
CANCELLED_QUEUED = "cancelled by request before it started"

#: Environment variables of :class:`JobSettings` and their defaults.
CONCURRENCY_ENV = "MOTIFLENS_TRAINER_CONCURRENCY"
QUEUE_ENV = "MOTIFLENS_TRAINER_QUEUE"
DEFAULT_CONCURRENCY = 1
DEFAULT_QUEUE_LIMIT = 16

# Paper defaults for TrainingSpec fields left at 0.
_TRAIN_DEFAULTS = TrainConfig()


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


@dataclass(frozen=True)
class JobSettings:
    """Settings of the job manager.

    Attributes
    ----------
    concurrency : int
        Worker processes, i.e. jobs trained at once (``MOTIFLENS_TRAINER_CONCURRENCY``,
        default 1, 1-64).
    queue_limit : int
        Most jobs pending or running in this manager (``MOTIFLENS_TRAINER_QUEUE``,
        default 16, 1-10000); ``Train`` beyond it is RESOURCE_EXHAUSTED.
    heartbeat_seconds : float
        Interval of the manager's heartbeat record (default 5); a manager silent for
        three intervals counts as gone.
    orphan_sweep_seconds : float
        Interval of the check for jobs of gone managers (default 60; also at start).
    poll_seconds : float
        How often ``watch`` re-reads the store when no notification arrives (default 0.3).
    """

    concurrency: int = DEFAULT_CONCURRENCY
    queue_limit: int = DEFAULT_QUEUE_LIMIT
    heartbeat_seconds: float = 5.0
    orphan_sweep_seconds: float = 60.0
    poll_seconds: float = 0.3

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> JobSettings:
        """Read ``MOTIFLENS_TRAINER_CONCURRENCY`` and ``MOTIFLENS_TRAINER_QUEUE``.

        Raises
        ------
        ValueError
            A value that is not an integer in range (the message names the variable).
        """
        env = os.environ if environ is None else environ
        return cls(
            concurrency=_env_int(env, CONCURRENCY_ENV, DEFAULT_CONCURRENCY, 1, 64),
            queue_limit=_env_int(env, QUEUE_ENV, DEFAULT_QUEUE_LIMIT, 1, 10000),
        )


def _env_int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    return parse_int_setting((env.get(name) or "").strip() or None, name, default, low, high)


# --------------------------------------------------------------------------- request -> configs


def model_config_from_spec(spec: Mapping, *, input_length: int, num_outputs: int) -> ModelConfig:
    """Resolve an API model spec (0 / "" = default) into a validated ModelConfig.

    Parameters
    ----------
    spec : mapping
        ``architecture``, ``activation`` ("" = relu), ``activation_params``,
        ``initializer`` ("" = glorot_uniform), ``initializer_std`` (0 = unset),
        ``width_multiplier`` (0 = 1), ``seed``, ``first_layer_l2`` (None or absent =
        the activation's default).
    input_length, num_outputs : int
        L and T of the data set.

    Raises
    ------
    InvalidInputError
        Unknown architecture, activation or initialiser (the message lists the known
        names), bad activation parameters, a negative seed, or a sequence length too
        short for the architecture's pooling.
    """
    seed = int(spec.get("seed", 0))
    if seed < 0:
        raise InvalidInputError(f"model.seed: expected a non-negative integer, got {seed}")
    width = int(spec.get("width_multiplier", 0))
    if width < 0:
        raise InvalidInputError(f"model.width_multiplier: expected >= 1 (0 = 1), got {width}")
    initializer = spec.get("initializer") or "glorot_uniform"
    if initializer not in INITIALIZERS:
        raise InvalidInputError(
            f"model.initializer: unknown name {initializer!r}; known: {', '.join(INITIALIZERS)}"
        )
    std = float(spec.get("initializer_std", 0.0))
    first_layer_l2 = spec.get("first_layer_l2")
    config = ModelConfig(
        architecture=spec.get("architecture", ""),
        input_length=int(input_length),
        num_outputs=int(num_outputs),
        activation=spec.get("activation") or "relu",
        activation_params={str(k): float(v) for k, v in dict(spec.get("activation_params") or {}).items()},
        initializer=initializer,
        initializer_std=std if std else None,
        width_multiplier=width or 1,
        seed=seed,
        first_layer_l2=None if first_layer_l2 is None else float(first_layer_l2),
    )
    try:
        # Building is the one complete check (names, parameters, pooling vs length).
        build_model(config)
    except InvalidInputError as exc:
        raise InvalidInputError(f"model.{exc}") from None
    return config


def train_config_from_spec(spec: Mapping, *, seed: int) -> TrainConfig:
    """Resolve an API training spec (0 = paper default) into a validated TrainConfig.

    Parameters
    ----------
    spec : mapping
        ``epochs`` (0: 100), ``batch_size`` (0: 100), ``learning_rate`` (0: 1e-3),
        ``patience`` (0: 20, negative: no early stopping), ``lr_patience`` (0: 5),
        ``lr_decay_factor`` (0: 0.3).
    seed : int
        The model seed, also used for training.

    Raises
    ------
    InvalidInputError
        A negative or otherwise invalid value (the message names the field).
    """
    patience = int(spec.get("patience", 0))
    config = TrainConfig(
        epochs=int(spec.get("epochs", 0)) or _TRAIN_DEFAULTS.epochs,
        batch_size=int(spec.get("batch_size", 0)) or _TRAIN_DEFAULTS.batch_size,
        learning_rate=float(spec.get("learning_rate", 0.0)) or _TRAIN_DEFAULTS.learning_rate,
        lr_decay_factor=float(spec.get("lr_decay_factor", 0.0)) or _TRAIN_DEFAULTS.lr_decay_factor,
        lr_patience=int(spec.get("lr_patience", 0)) or _TRAIN_DEFAULTS.lr_patience,
        early_stopping_patience=None
        if patience < 0
        else (patience or _TRAIN_DEFAULTS.early_stopping_patience),
        seed=seed,
    )
    try:
        config.validate()
    except InvalidInputError as exc:
        raise InvalidInputError(f"training.{exc}") from None
    return config


# --------------------------------------------------------------------------- store access


def check_job_id(job_id: str) -> str:
    """Return ``job_id`` if well formed ("job-<32 hex>"), else raise InvalidInputError."""
    return check_id(job_id, field_name="job_id", prefix=JOB_ID_PREFIX)


def read_job(store: ArtifactStore, job_id: str) -> dict:
    """The job record; NotFoundError for an unknown id, InvalidInputError for a malformed one."""
    check_job_id(job_id)
    try:
        return store.get_record(JOBS_NAMESPACE, job_id)
    except NotFoundError:
        raise NotFoundError(f"job_id: no job {job_id!r}") from None


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


# --------------------------------------------------------------------------- the manager


class JobManager:
    """Accepts training jobs, runs them in worker processes, and reports their state.

    Parameters
    ----------
    store_url : str
        URL of the store where jobs, events, data sets and models live; worker
        processes open it themselves, so it must be complete (an S3 URL with its
        ``endpoint``; ``ArtifactStore.url`` leaves that out).
    settings : JobSettings, optional
        Default :class:`JobSettings` ().
    store : ArtifactStore, optional
        This process's store object for ``store_url`` (default: ``open_store(store_url)``).
    metrics : object, optional
        A :class:`services.common.metrics.ServiceMetrics`; its ``set_jobs`` gauge gets the
        number of jobs by state in the store.

    Notes
    -----
    Call :meth:`close` when done: it marks unfinished jobs of this manager FAILED and
    stops the worker processes.
    """

    def __init__(
        self,
        store_url: str,
        settings: JobSettings | None = None,
        *,
        store: ArtifactStore | None = None,
        metrics: object | None = None,
    ):
        self.store_url = store_url
        self.store = store if store is not None else open_store(store_url)
        self.settings = settings or JobSettings()
        self.metrics = metrics
        self.manager_id = new_id("trainer")
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._queue: deque[str] = deque()
        self._running: dict[str, Future | None] = {}
        self._accepting: set[str] = set()  # ids whose PENDING record is being written
        self._metrics_stale = False
        self._context = multiprocessing.get_context("spawn")
        self._notices = self._context.Queue()
        self._executor = self._new_executor()
        self._started = False
        try:
            self._start_up()
        except Exception:  # noqa: BLE001 - store not reachable yet: the supervisor retries
            logger.warning("job manager: store not ready at start; retrying in the background", exc_info=True)
        self._listener = threading.Thread(target=self._listen, name="trainer-notices", daemon=True)
        self._listener.start()
        self._supervisor = threading.Thread(target=self._supervise, name="trainer-supervisor", daemon=True)
        self._supervisor.start()
        logger.info(
            "job manager %s: %d worker process(es), queue limit %d",
            self.manager_id,
            self.settings.concurrency,
            self.settings.queue_limit,
        )

    def _start_up(self) -> None:
        self._write_heartbeat()
        self.sweep_orphans()
        self._update_metrics()
        self._started = True

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.settings.concurrency,
            mp_context=self._context,
            initializer=worker.init_pool_worker,
            initargs=(self._notices, logging.getLogger().getEffectiveLevel()),
        )

    # ---- accepting and cancelling
    def submit(self, dataset_id: str, model: Mapping, training: Mapping, *, name: str = "") -> dict:
        """Validate a training request and queue it.

        Parameters
        ----------
        dataset_id : str
        model : mapping
            API model spec, see :func:`model_config_from_spec`.
        training : mapping
            API training spec, see :func:`train_config_from_spec`.
        name : str, default ""
            Name of the resulting model.

        Returns
        -------
        dict
            The new job record (state PENDING).

        Raises
        ------
        InvalidInputError
            Malformed id or an invalid model/training spec.
        NotFoundError
            Unknown data set.
        ResourceExhaustedError
            ``queue_limit`` jobs are pending or running already.
        UnavailableError
            The manager is shutting down.
        """
        info = get_dataset_info(self.store, dataset_id)
        model_config = model_config_from_spec(
            model, input_length=info.sequence_length, num_outputs=info.num_targets
        )
        train_config = train_config_from_spec(training, seed=model_config.seed)
        with self._lock:
            if self._closing.is_set():
                raise UnavailableError("the trainer is shutting down; retry on another replica or later")
            active = len(self._queue) + len(self._running) + len(self._accepting)
            if active >= self.settings.queue_limit:
                raise ResourceExhaustedError(
                    f"training queue full: {active} jobs pending or running, the limit is "
                    f"{self.settings.queue_limit} ({QUEUE_ENV}); wait for a job to finish or cancel one"
                )
            job_id = new_id(JOB_ID_PREFIX)
            self._accepting.add(job_id)
        try:
            record = self._new_record(job_id, dataset_id, asdict(model_config), asdict(train_config), name)
            self.store.put_record(JOBS_NAMESPACE, job_id, record)
            with self._lock:
                closing = self._closing.is_set()
                if not closing:
                    self._queue.append(job_id)
        finally:
            with self._lock:
                self._accepting.discard(job_id)
        if closing:  # close() ran while the record was being written
            self._fail_if_unfinished(job_id, SHUTDOWN_ERROR)
            raise UnavailableError("the trainer is shutting down; retry on another replica or later")
        logger.info(
            "job %s queued: %s/%s on %s",
            job_id,
            model_config.architecture,
            model_config.activation,
            dataset_id,
            extra={"job_id": job_id},
        )
        self._metrics_stale = True
        self._wake.set()
        self._notify_changed()
        return record

    def _new_record(
        self,
        job_id: str,
        dataset_id: str,
        model_config: dict,
        train_config: dict,
        name: str,
        *,
        sweep_id: str = "",
        sweep_index: int = 0,
        executor: str = "local",
    ) -> dict:
        """A PENDING job record (see the module docstring for the fields)."""
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
            # A kubernetes job has no manager owner: its pods run it, GetSweep reconciles it.
            "owner": self.manager_id if executor == "local" else "",
            "executor": executor,
            "sweep_id": sweep_id,
            "sweep_index": sweep_index,
            "worker": None,
        }

    def create_sweep_jobs(
        self, dataset_id: str, configs: list[dict], *, sweep_id: str, executor: str
    ) -> list[str]:
        """Write one PENDING job record per sweep configuration; return the ids in order.

        The jobs are not queued: for the local executor call :meth:`enqueue` once the
        sweep record exists (the worker looks the job up through it); Kubernetes runs
        the others. Sweeps are not bounded by ``queue_limit`` (their size is bounded by
        the sweep limit); while a local sweep's jobs wait, ``Train`` may be
        RESOURCE_EXHAUSTED.

        Parameters
        ----------
        dataset_id : str
        configs : list of dict
            ``model_config``, ``train_config`` (resolved dicts) and ``name`` per configuration.
        sweep_id : str
        executor : str
            "local" or "kubernetes".

        Raises
        ------
        UnavailableError
            The manager is shutting down.
        """
        if self._closing.is_set():
            raise UnavailableError("the trainer is shutting down; retry on another replica or later")
        job_ids = []
        for index, config in enumerate(configs):
            job_id = new_id(JOB_ID_PREFIX)
            record = self._new_record(
                job_id,
                dataset_id,
                config["model_config"],
                config["train_config"],
                config["name"],
                sweep_id=sweep_id,
                sweep_index=index,
                executor=executor,
            )
            if executor == "local":
                with self._lock:  # ours from now on: the orphan sweep must not take it
                    self._accepting.add(job_id)
            job_ids.append(job_id)
            self.store.put_record(JOBS_NAMESPACE, job_id, record)
        self._metrics_stale = True
        return job_ids

    def enqueue(self, job_ids: list[str]) -> None:
        """Queue PENDING local jobs written by :meth:`create_sweep_jobs`, in order.

        Raises
        ------
        UnavailableError
            The manager is shutting down (the jobs are then marked FAILED).
        """
        with self._lock:
            closing = self._closing.is_set()
            if not closing:
                self._queue.extend(job_ids)
            self._accepting.difference_update(job_ids)
        if closing:
            for job_id in job_ids:
                self._fail_if_unfinished(job_id, SHUTDOWN_ERROR)
            raise UnavailableError("the trainer is shutting down; retry on another replica or later")
        self._metrics_stale = True
        self._wake.set()
        self._notify_changed()

    def fail_if_unfinished(self, job_id: str, error: str) -> None:
        """Mark a job FAILED with ``error`` unless it is finished already (best effort).

        Also releases a sweep job written by :meth:`create_sweep_jobs` but never queued.
        """
        with self._lock:
            self._accepting.discard(job_id)
        self._fail_if_unfinished(job_id, error)

    def cancel(self, job_id: str) -> dict:
        """Cancel a job: a queued one at once, a running one after its current epoch.

        Returns
        -------
        dict
            The job record after the request: CANCELLED for a queued job, still RUNNING
            (or PENDING while a worker picks it up) for a running one, unchanged when
            it had finished already.

        Raises
        ------
        InvalidInputError, NotFoundError
            Malformed or unknown id.
        """
        record = read_job(self.store, job_id)
        if is_terminal(record["state"]):
            return record
        if record.get("executor") == "kubernetes":
            # Its pod checks the cancel record before it starts and after every epoch; a
            # job no pod has started yet is CANCELLED now (the pod then exits at once).
            self.store.put_record(
                CANCELS_NAMESPACE,
                job_id,
                {"job_id": job_id, "requested_at": utc_now(), "by": self.manager_id},
            )
            if record["state"] == JobState.PENDING.value:
                record = self._finish(record, JobState.CANCELLED, CANCELLED_QUEUED)
            self._metrics_stale = True
            self._notify_changed()
            return record
        with self._lock:
            queued = job_id in self._queue
            if queued:
                self._queue.remove(job_id)
            ours = queued or job_id in self._running
        if queued or (not ours and not self._owner_alive(record)):
            record = self._finish(
                record, JobState.CANCELLED, CANCELLED_QUEUED if queued else "cancelled by request"
            )
        else:
            self.store.put_record(
                CANCELS_NAMESPACE,
                job_id,
                {"job_id": job_id, "requested_at": utc_now(), "by": self.manager_id},
            )
            logger.info("job %s: cancellation requested", job_id, extra={"job_id": job_id})
        self._metrics_stale = True
        self._notify_changed()
        self._wake.set()
        return record

    # ---- reading
    def get_job(self, job_id: str) -> dict:
        """The job record (see the module docstring)."""
        return read_job(self.store, job_id)

    def list_jobs(self) -> list[dict]:
        """Every job record in the store, newest first."""
        records = self.store.list_records(JOBS_NAMESPACE)
        return sorted(records, key=lambda r: (r.get("created_time", 0.0), r.get("job_id", "")), reverse=True)

    def get_events(self, job_id: str) -> list[dict]:
        """The job's epoch events so far."""
        return read_events(self.store, job_id)

    def watch(self, job_id: str, is_active: Callable[[], bool]) -> Iterator[tuple[str, dict]]:
        """Past epoch events, then new ones as they are recorded, then the final job record.

        Yields ``("epoch", event_dict)`` per epoch and finally ``("final", job_record)``
        once the job is terminal. Stops early, without the final item, as soon as
        ``is_active()`` is False (client gone or deadline passed). Wakes on a
        worker's notification when the job runs under this manager, otherwise
        re-reads the store every ``poll_seconds``.

        Raises
        ------
        InvalidInputError, NotFoundError
            Malformed or unknown id (before anything is yielded).
        """
        read_job(self.store, job_id)
        sent = 0
        while is_active():
            record = read_job(self.store, job_id)  # first the record, then the events it counts
            events = read_events(self.store, job_id)
            for event in events[sent:]:
                yield "epoch", event
            sent = max(sent, len(events))
            if is_terminal(record["state"]):
                yield "final", record
                return
            with self._changed:
                self._changed.wait(self.settings.poll_seconds)

    def wake_watchers(self) -> None:
        """Wake every :meth:`watch` loop now (e.g. when a client cancels its stream)."""
        self._notify_changed()

    # ---- internals
    def _notify_changed(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _listen(self) -> None:
        """Turn workers' "job changed" notices into wake-ups of the watch loops.

        Notices are only a shortcut: a lost or garbled one (a worker killed while
        writing) leaves watchers on their ``poll_seconds`` re-reads.
        """
        while not self._closing.is_set():
            try:
                item = self._notices.get()
            except (EOFError, OSError):
                return
            except Exception:  # noqa: BLE001 - e.g. a half-written notice of a killed worker
                logger.warning("unreadable worker notice; ignored", exc_info=True)
                time.sleep(0.1)
                continue
            if item is None:
                return
            self._notify_changed()

    def _supervise(self) -> None:
        """Hand queued jobs to workers, reap finished ones, heartbeat, sweep for orphans."""
        next_heartbeat = time.monotonic() + self.settings.heartbeat_seconds
        next_sweep = time.monotonic() + self.settings.orphan_sweep_seconds
        while not self._closing.is_set():
            self._wake.wait(timeout=min(1.0, self.settings.heartbeat_seconds))
            self._wake.clear()
            if self._closing.is_set():
                return
            try:
                if not self._started:
                    self._start_up()
                changed = self._reap()
                changed |= self._dispatch()
                now = time.monotonic()
                if now >= next_heartbeat:
                    self._write_heartbeat()
                    next_heartbeat = now + self.settings.heartbeat_seconds
                if now >= next_sweep:
                    changed |= self.sweep_orphans() > 0
                    next_sweep = now + self.settings.orphan_sweep_seconds
                if changed or self._metrics_stale:
                    self._metrics_stale = False
                    self._update_metrics()
                    self._notify_changed()
            except Exception:  # noqa: BLE001 - the supervisor must survive a store outage
                logger.exception("job supervisor: iteration failed; retrying")
                self._closing.wait(1.0)

    def _dispatch(self) -> bool:
        changed = False
        while not self._closing.is_set():
            with self._lock:
                if not self._queue or len(self._running) >= self.settings.concurrency:
                    return changed
                job_id = self._queue.popleft()
                self._running[job_id] = None  # handed over; a cancel now goes through the record
            changed = True
            try:
                record = read_job(self.store, job_id)
                if is_terminal(record["state"]):  # finished behind our back (another replica)
                    with self._lock:
                        self._running.pop(job_id, None)
                    continue
                record.update(state=JobState.RUNNING.value, started_at=utc_now())
                self.store.put_record(JOBS_NAMESPACE, job_id, record)
                if record.get("sweep_id"):  # the same entrypoint as a sweep's Kubernetes pods
                    future = self._executor.submit(
                        worker.run_sweep_index, self.store_url, record["sweep_id"], record["sweep_index"]
                    )
                else:
                    future = self._executor.submit(worker.run_training_job, self.store_url, job_id)
            except Exception as exc:  # noqa: BLE001 - the job fails, the manager goes on
                logger.exception("job %s: could not start a worker", job_id, extra={"job_id": job_id})
                with self._lock:
                    self._running.pop(job_id, None)
                self._fail_if_unfinished(job_id, f"could not start a worker: {exc}")
                if isinstance(exc, BrokenProcessPool):
                    self._replace_executor()
                continue
            future.add_done_callback(lambda _future: self._wake.set())
            with self._lock:
                self._running[job_id] = future
            logger.info("job %s handed to a worker process", job_id, extra={"job_id": job_id})
        return changed

    def _reap(self) -> bool:
        with self._lock:
            done = {job_id: f for job_id, f in self._running.items() if f is not None and f.done()}
            for job_id in done:
                del self._running[job_id]
        broken = False
        for job_id, future in done.items():
            error = future.exception()
            if error is None:
                self._fail_if_unfinished(job_id, "the worker ended without recording a final state")
                continue
            broken |= isinstance(error, BrokenProcessPool)
            logger.error("job %s: worker failed: %r", job_id, error, extra={"job_id": job_id})
            reason = (
                "the worker process died (killed, out of memory or crashed)"
                if isinstance(error, BrokenProcessPool)
                else f"{type(error).__name__}: {error}"
            )
            self._fail_if_unfinished(job_id, reason)
        if broken:
            self._replace_executor()
        return bool(done)

    def _replace_executor(self) -> None:
        logger.warning("worker pool broken; starting a new one")
        old = self._executor
        self._executor = self._new_executor()
        old.shutdown(wait=False, cancel_futures=True)

    def _finish(self, record: dict, state: JobState, error: str = "") -> dict:
        record = dict(record)
        record.update(state=state.value, error=error, finished_at=utc_now())
        self.store.put_record(JOBS_NAMESPACE, record["job_id"], record)
        logger.info("job %s: %s %s", record["job_id"], state.value, error, extra={"job_id": record["job_id"]})
        return record

    def _fail_if_unfinished(self, job_id: str, error: str) -> None:
        try:
            record = read_job(self.store, job_id)
            if not is_terminal(record["state"]):
                self._finish(record, JobState.FAILED, error)
        except Exception:  # noqa: BLE001 - best effort; the orphan sweep retries later
            logger.exception("job %s: could not record FAILED", job_id, extra={"job_id": job_id})

    def _write_heartbeat(self, *, stopped: bool = False) -> None:
        self.store.put_record(
            TRAINERS_NAMESPACE,
            self.manager_id,
            {
                "manager_id": self.manager_id,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "heartbeat_time": time.time(),
                "heartbeat_at": utc_now(),
                "stopped": stopped,
            },
        )

    def _owner_alive(self, record: Mapping) -> bool:
        owner = record.get("owner")
        if owner == self.manager_id:
            job_id = record["job_id"]
            with self._lock:
                return job_id in self._accepting or job_id in self._queue or job_id in self._running
        if not isinstance(owner, str) or not owner:
            return False
        try:
            beat = self.store.get_record(TRAINERS_NAMESPACE, owner)
        except (NotFoundError, InvalidInputError):
            return False
        age = time.time() - float(beat.get("heartbeat_time", 0.0))
        return (
            not beat.get("stopped", False)
            and math.isfinite(age)
            and age < 3 * self.settings.heartbeat_seconds
        )

    def sweep_orphans(self) -> int:
        """Mark FAILED every PENDING or RUNNING job whose owner is gone; return how many."""
        count = 0
        for record in self.store.list_records(JOBS_NAMESPACE):
            if is_terminal(record.get("state", "")) or "job_id" not in record:
                continue
            if record.get("executor") == "kubernetes":  # run by pods, reconciled by GetSweep
                continue
            if self._owner_alive(record):
                continue
            self._finish(record, JobState.FAILED, INTERRUPTED_ERROR)
            count += 1
        if count:
            logger.warning("marked %d interrupted job(s) FAILED", count)
        return count

    def _update_metrics(self) -> None:
        set_jobs = getattr(self.metrics, "set_jobs", None)
        if set_jobs is None:
            return
        try:
            counts = dict.fromkeys((state.value for state in JobState), 0)
            for record in self.store.list_records(JOBS_NAMESPACE):
                if record.get("state") in counts:
                    counts[record["state"]] += 1
            set_jobs(counts)
        except Exception:  # noqa: BLE001 - metrics never break a request
            logger.warning("could not update the jobs gauge", exc_info=True)

    # ---- shutdown
    def close(self, timeout: float = 10.0) -> None:
        """Stop: unfinished jobs of this manager become FAILED, worker processes are stopped.

        Parameters
        ----------
        timeout : float, default 10
            Seconds to wait for the worker processes to exit after they are terminated.
        """
        if self._closing.is_set():
            return
        self._closing.set()
        self._wake.set()
        self._supervisor.join(timeout=timeout)
        with self._lock:
            unfinished = list(self._queue) + list(self._running)
            self._queue.clear()
            self._running.clear()
        self._terminate_workers()
        self._executor.shutdown(wait=True, cancel_futures=True)
        for job_id in unfinished:
            self._fail_if_unfinished(job_id, SHUTDOWN_ERROR)
        try:
            self._write_heartbeat(stopped=True)
        except Exception:  # noqa: BLE001
            logger.warning("could not mark the heartbeat stopped", exc_info=True)
        self._notices.put(None)
        self._listener.join(timeout=timeout)
        self._notices.close()
        self._update_metrics()
        self._notify_changed()
        logger.info(
            "job manager %s closed (%d unfinished job(s) marked FAILED)", self.manager_id, len(unfinished)
        )

    def _terminate_workers(self) -> None:
        """Stop the worker processes now (a running job has no resume, so there is nothing to save)."""
        terminate = getattr(self._executor, "terminate_workers", None)  # Python >= 3.14
        if terminate is not None:
            terminate()
            return
        # Python < 3.14 has no public way to stop a busy pool; its process table is the one handle.
        for process in list((getattr(self._executor, "_processes", None) or {}).values()):
            if process.is_alive():
                process.terminate()
