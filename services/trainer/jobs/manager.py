"""The job manager: accepts jobs, hands them to worker processes, adopts orphans.

:class:`JobManager` holds this trainer's queue and worker pool; a supervisor thread
dispatches queued jobs, reaps finished workers (re-queueing interrupted jobs, failing
broken ones), heartbeats and sweeps for jobs of trainers that are gone. The process
model and the restart choice are described in :mod:`services.trainer.jobs`.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict

from motiflens.errors import (
    InvalidInputError,
    NotFoundError,
    ResourceExhaustedError,
    UnavailableError,
)
from services.common.config import MAX_RESUMES_ENV, QUEUE_ENV, JobSettings
from services.common.datasets import get_dataset_info
from services.common.store import ArtifactStore, CorruptRecordError, new_id, open_store, utc_now
from services.trainer import attribution_jobs, attribution_worker, motifs_jobs, variants_jobs, worker
from services.trainer.jobs.liveness import heartbeat_gone, heartbeat_record
from services.trainer.jobs.records import (
    CANCELLED_QUEUED,
    CANCELS_NAMESPACE,
    CHECKPOINTS_NAMESPACE,
    INTERRUPTED_ERROR,
    JOB_ID_PREFIX,
    JOBS_NAMESPACE,
    SHUTDOWN_ERROR,
    SHUTDOWN_NOTE,
    TRAINERS_NAMESPACE,
    WORKER_DIED,
    JobState,
    count_by_state,
    is_terminal,
    new_job_record,
    read_events,
    read_job,
)
from services.trainer.jobs.specs import model_config_from_spec, train_config_from_spec
from services.trainer.notices import NoticeListener
from services.trainer.watchers import JobWatchers

logger = logging.getLogger(__name__)


def _outcome(error: BaseException | None) -> tuple[str, str]:
    """What to record for a job whose worker ended with ``error``: (action, reason)."""
    if error is None:  # the worker recorded the outcome, or found the job finished or taken
        return "check", "the worker ended without recording a final state"
    if isinstance(error, BrokenProcessPool):
        return "resume", WORKER_DIED
    if isinstance(error, UnavailableError):  # the worker retried for store_retry_seconds first
        return "resume", str(error)
    return "fail", f"{type(error).__name__}: {error}"


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
    Call :meth:`close` when done: it stops the worker processes and leaves this
    manager's unfinished jobs PENDING, for the next trainer to resume.
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
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._queue: deque[str] = deque()
        self._running: dict[str, Future | None] = {}
        self._accepting: set[str] = set()  # ids whose PENDING record is being written
        # Shards of unfinished attribution jobs seen stored (they stay until the merge).
        self._shards_seen: dict[str, set[int]] = {}
        # Jobs whose worker ended, with what to record ("resume", "fail" or "check") and
        # why; kept (and still ours) until the store takes the write.
        self._unsettled: dict[str, tuple[str, str]] = {}
        # When a store call of this manager last failed (monotonic): until the store has
        # answered for a while, silent heartbeats of others prove nothing.
        self._store_trouble_at = -math.inf
        self._metrics_stale = False
        self._context = multiprocessing.get_context("spawn")
        self._notices = NoticeListener()
        self._executor = self._new_executor()
        self._started = False
        # Open WatchJob streams, served without a thread each (see services.trainer.watchers).
        self.watchers = JobWatchers(self.read_for_watch, is_terminal, poll_seconds=self.settings.poll_seconds)
        try:
            self._start_up()
        except Exception:  # noqa: BLE001 - store not reachable yet: the supervisor retries
            self._store_trouble_at = time.monotonic()
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
            # Our pid: a worker exits when this process is gone (no orphans training on).
            initargs=(self._notices.address, logging.getLogger().getEffectiveLevel(), os.getpid()),
        )

    # ---- accepting and cancelling
    def submit(
        self,
        dataset_id: str,
        model: Mapping,
        training: Mapping,
        *,
        name: str = "",
        labels: Mapping[str, str] | None = None,
    ) -> dict:
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
        labels : mapping, optional
            Labels the resulting model gets (checked by the caller).

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
        record = self._accept(
            lambda job_id: new_job_record(
                job_id,
                dataset_id,
                asdict(model_config),
                asdict(train_config),
                name,
                owner=self.manager_id,
                labels=dict(labels or {}),
            )
        )
        logger.info(
            "job %s queued: %s/%s on %s",
            record["job_id"],
            model_config.architecture,
            model_config.activation,
            dataset_id,
            extra={"job_id": record["job_id"]},
        )
        return record

    def submit_job(self, make_record: Callable[[str], dict]) -> dict:
        """Queue a job whose record ``make_record(job_id)`` builds (checked already); return it.

        Raises as :meth:`submit` for a full queue or a closing manager.
        """
        record = self._accept(make_record)
        logger.info(
            "job %s queued (%s)", record["job_id"], record.get("kind"), extra={"job_id": record["job_id"]}
        )
        return record

    def record_kubernetes_job(self, make_record: Callable[[str], dict]) -> dict:
        """Write the PENDING record ``make_record(job_id)`` of a job an Indexed Job runs (not queued)."""
        if self._closing.is_set():
            raise UnavailableError("the trainer is shutting down; retry on another replica or later")
        record = make_record(new_id(JOB_ID_PREFIX))
        self.store.put_record(JOBS_NAMESPACE, record["job_id"], record)
        self._metrics_stale = True
        return record

    def _accept(self, make_record: Callable[[str], dict]) -> dict:
        """Write the PENDING record ``make_record(job_id)`` and queue it (the queue limit applies)."""
        with self._lock:
            if self._closing.is_set():
                raise UnavailableError("the trainer is shutting down; retry on another replica or later")
            active = len(self._queue) + len(self._running) + len(self._accepting)
            if active >= self.settings.queue_limit:
                raise ResourceExhaustedError(
                    f"job queue full: {active} jobs pending or running, the limit is "
                    f"{self.settings.queue_limit} ({QUEUE_ENV}); wait for a job to finish or cancel one"
                )
            job_id = new_id(JOB_ID_PREFIX)
            self._accepting.add(job_id)
        try:
            record = make_record(job_id)
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
        self._metrics_stale = True
        self._wake.set()
        self._notify_changed()
        return record

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
            record = new_job_record(
                job_id,
                dataset_id,
                config["model_config"],
                config["train_config"],
                config["name"],
                # A kubernetes job has no manager owner: its pods run it, GetSweep reconciles it.
                owner=self.manager_id if executor == "local" else "",
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
            self._request_cancel(job_id)
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
            self._request_cancel(job_id)
            logger.info("job %s: cancellation requested", job_id, extra={"job_id": job_id})
        self._metrics_stale = True
        self._notify_changed()
        self._wake.set()
        return record

    def _request_cancel(self, job_id: str) -> None:
        """Write the cancel record its worker (or pod) checks after every epoch."""
        record = {"job_id": job_id, "requested_at": utc_now(), "by": self.manager_id}
        self.store.put_record(CANCELS_NAMESPACE, job_id, record)

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

    def read_for_watch(self, job_id: str) -> tuple[dict, list[dict]]:
        """The job record, then the events it counts (what a WatchJob round sends).

        Training jobs: the epoch events. Attribution jobs: one progress event per
        stored shard (:func:`services.trainer.attribution_jobs.progress_events`).
        """
        record = read_job(self.store, job_id)
        if attribution_jobs.is_attribution(record):
            return record, attribution_jobs.progress_events(record, self.attribution_progress(record)[0])
        if variants_jobs.is_variants(record):
            return record, variants_jobs.progress_events(record, self.variants_progress(record))
        return record, read_events(self.store, job_id)

    def variants_progress(self, record: Mapping) -> int:
        """Shards done of a variants job (each shard's manifest read once while it runs)."""
        if is_terminal(record.get("state", "")):
            with self._lock:
                self._shards_seen.pop(record["job_id"], None)
            return int(record["variants"].get("shards_done", 0))
        with self._lock:
            known = self._shards_seen.setdefault(record["job_id"], set())
        return len(variants_jobs.stored_shards(self.store, record, known))

    def attribution_progress(self, record: Mapping) -> tuple[int, int]:
        """(shards done, sequences done) of an attribution job; each shard's manifest is read once."""
        with self._lock:
            known = self._shards_seen.setdefault(record["job_id"], set())
        done = attribution_jobs.progress(self.store, record, known)
        if is_terminal(record.get("state", "")):
            with self._lock:
                self._shards_seen.pop(record["job_id"], None)
        return done

    # ---- internals
    def _notify_changed(self) -> None:
        """A job changed: open WatchJob streams look now instead of at their next poll."""
        self.watchers.wake()

    def _listen(self) -> None:
        """Turn workers' "job changed" notices into wake-ups of the watch loops.

        Notices are only a shortcut: a lost one leaves watchers on their
        ``poll_seconds`` re-reads (see :mod:`services.trainer.notices`).
        """
        while not self._closing.is_set():
            if self._notices.receive() is not None:
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
                self._store_trouble_at = time.monotonic()
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
                if is_terminal(record["state"]) or record.get("owner") != self.manager_id:
                    with self._lock:  # finished or taken behind our back (another replica)
                        self._running.pop(job_id, None)
                    continue
                record.update(state=JobState.RUNNING.value, started_at=record.get("started_at") or utc_now())
                self.store.put_record(JOBS_NAMESPACE, job_id, record)
                future = self._submit(record)
            except (UnavailableError, BrokenProcessPool) as exc:
                with self._lock:  # not the job's fault: it waits at the head of the queue
                    self._running.pop(job_id, None)
                    self._queue.appendleft(job_id)
                if isinstance(exc, UnavailableError):
                    raise
                self._replace_executor()  # an idle worker died; the next round uses a new pool
                continue
            except Exception as exc:  # noqa: BLE001 - the job fails, the manager goes on
                logger.exception("job %s: could not start a worker", job_id, extra={"job_id": job_id})
                with self._lock:
                    self._running.pop(job_id, None)
                self._fail_if_unfinished(job_id, f"could not start a worker: {exc}")
                continue
            future.add_done_callback(lambda _future: self._wake.set())
            with self._lock:
                self._running[job_id] = future
            logger.info("job %s handed to a worker process", job_id, extra={"job_id": job_id})
        return changed

    def _submit(self, record: Mapping) -> Future:
        retry = self.settings.store_retry_seconds
        if attribution_jobs.is_attribution(record):
            return self._executor.submit(
                attribution_worker.run_attribution_job, self.store_url, record["job_id"], retry_seconds=retry
            )
        if variants_jobs.is_variants(record):
            return self._executor.submit(
                variants_jobs.run_variants_job, self.store_url, record["job_id"], retry_seconds=retry
            )
        if motifs_jobs.is_motifs(record):
            return self._executor.submit(
                motifs_jobs.run_motifs_job, self.store_url, record["job_id"], retry_seconds=retry
            )
        if record.get("sweep_id"):  # the same entrypoint as a sweep's Kubernetes pods
            return self._executor.submit(
                worker.run_sweep_index,
                self.store_url,
                record["sweep_id"],
                record["sweep_index"],
                retry_seconds=retry,
            )
        return self._executor.submit(
            worker.run_training_job, self.store_url, record["job_id"], retry_seconds=retry
        )

    def _reap(self) -> bool:
        """Collect the jobs whose worker ended and record what that means (see :meth:`_settle`)."""
        with self._lock:
            done = {job_id: f for job_id, f in self._running.items() if f is not None and f.done()}
            for job_id, future in done.items():
                del self._running[job_id]
                self._unsettled[job_id] = _outcome(future.exception())
        for job_id, future in done.items():
            if future.exception() is not None:
                logger.error(
                    "job %s: worker failed: %r", job_id, future.exception(), extra={"job_id": job_id}
                )
        if any(isinstance(future.exception(), BrokenProcessPool) for future in done.values()):
            self._replace_executor()
        self._settle()
        return bool(done)

    def _settle(self) -> None:
        """Re-queue interrupted jobs and fail broken ones; what the store refuses waits for the next loop.

        A job stays ours (see :meth:`_owner_alive`) until its outcome is written, so a
        store outage at this moment cannot make our own orphan sweep mislabel it.
        """
        with self._lock:
            pending = list(self._unsettled.items())
        for job_id, (action, reason) in pending:
            try:
                record = read_job(self.store, job_id)
                if not is_terminal(record["state"]) and record.get("owner") == self.manager_id:
                    if action == "resume":
                        self._requeue(record, reason, front=True)
                    else:
                        self._finish(record, JobState.FAILED, reason)
            except CorruptRecordError:
                logger.warning("job %s: its record is corrupt; leaving it", job_id, exc_info=True)
            except Exception:  # noqa: BLE001 - store down: kept, retried next loop
                self._store_trouble_at = time.monotonic()
                logger.warning("job %s: could not record its outcome yet; retrying", job_id, exc_info=True)
                continue
            with self._lock:
                self._unsettled.pop(job_id, None)

    def _requeue(self, record: Mapping, reason: str, *, front: bool = False) -> bool:
        """Put an interrupted job on this manager's queue to resume from its checkpoint.

        A job that was RUNNING counts one resume; past ``max_resumes`` it is FAILED
        instead. Returns whether the job was queued.
        """
        job_id = record["job_id"]
        resumes = int(record.get("resumes") or 0) + (record.get("state") == JobState.RUNNING.value)
        if resumes > self.settings.max_resumes:
            self._finish(
                record,
                JobState.FAILED,
                f"{reason}; gave up after {resumes - 1} resume(s) (the limit is {self.settings.max_resumes}, "
                f"{MAX_RESUMES_ENV}); start a new job",
            )
            return False
        record = {
            **record,
            "state": JobState.PENDING.value,
            "owner": self.manager_id,
            "worker": None,
            "resumes": resumes,
            "last_interruption": reason,
            "updated_at": utc_now(),
        }
        self.store.put_record(JOBS_NAMESPACE, job_id, record)
        with self._lock:
            if front:
                self._queue.appendleft(job_id)
            else:
                self._queue.append(job_id)
        self._metrics_stale = True
        logger.warning(
            "job %s: %s; queued to resume from its checkpoint (epoch %d; resume %d of at most %d)",
            job_id,
            reason,
            record.get("epochs_done", 0),
            resumes,
            self.settings.max_resumes,
            extra={"job_id": job_id},
        )
        return True

    def _replace_executor(self) -> None:
        logger.warning("worker pool broken; starting a new one")
        old = self._executor
        self._executor = self._new_executor()
        old.shutdown(wait=False, cancel_futures=True)

    def _finish(self, record: Mapping, state: JobState, error: str = "") -> dict:
        record = dict(record)
        record.update(state=state.value, error=error, finished_at=utc_now())
        self.store.put_record(JOBS_NAMESPACE, record["job_id"], record)
        logger.info("job %s: %s %s", record["job_id"], state.value, error, extra={"job_id": record["job_id"]})
        try:
            self.store.delete_blob(CHECKPOINTS_NAMESPACE, record["job_id"])
        except Exception:  # noqa: BLE001 - a leftover checkpoint only costs space
            logger.warning("job %s: could not delete its checkpoint", record["job_id"], exc_info=True)
        return record

    def _fail_if_unfinished(self, job_id: str, error: str) -> None:
        try:
            record = read_job(self.store, job_id)
            if not is_terminal(record["state"]):
                self._finish(record, JobState.FAILED, error)
        except Exception:  # noqa: BLE001 - best effort; the orphan sweep retries later
            logger.exception("job %s: could not record FAILED", job_id, extra={"job_id": job_id})

    def _write_heartbeat(self, *, stopped: bool = False) -> None:
        record = heartbeat_record(self.manager_id, self.settings.heartbeat_seconds, stopped=stopped)
        self.store.put_record(TRAINERS_NAMESPACE, self.manager_id, record)

    def _owner_alive(self, record: Mapping) -> bool:
        """Whether the manager that owns the job may still run it (see the module docstring)."""
        owner = record.get("owner")
        if owner == self.manager_id:
            job_id = record["job_id"]
            with self._lock:
                return any(
                    job_id in held for held in (self._accepting, self._queue, self._running, self._unsettled)
                )
        if not isinstance(owner, str) or not owner:
            return False
        try:
            beat = self.store.get_record(TRAINERS_NAMESPACE, owner)
        except (NotFoundError, InvalidInputError):
            return False
        except CorruptRecordError:
            return True  # unknown; its owner rewrites it every few seconds, judge it then
        return not heartbeat_gone(
            beat, default_interval=self.settings.heartbeat_seconds, store_trouble_at=self._store_trouble_at
        )

    def sweep_orphans(self) -> int:
        """Adopt every PENDING or RUNNING local job whose owner is gone; return how many.

        Adopted jobs are queued here to resume from their checkpoints (or FAILED past
        ``max_resumes``). Corrupt records are skipped (the store logs them once).
        """
        count = 0
        records = sorted(self.store.list_records(JOBS_NAMESPACE), key=lambda r: r.get("created_time", 0.0))
        for record in records:
            if is_terminal(record.get("state", "")) or "job_id" not in record:
                continue
            if record.get("executor") == "kubernetes":  # run by pods, reconciled by GetSweep
                continue
            if self._closing.is_set() or self._owner_alive(record):
                continue
            running = record.get("state") == JobState.RUNNING.value
            self._requeue(record, INTERRUPTED_ERROR if running else record.get("last_interruption", ""))
            count += 1
        if count:
            logger.warning("adopted %d job(s) of trainers that are gone", count)
        return count

    def _update_metrics(self) -> None:
        set_jobs = getattr(self.metrics, "set_jobs", None)
        if set_jobs is None:
            return
        try:
            set_jobs(count_by_state(self.store))
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
        self._terminate_workers()
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            unfinished = list(self._queue) + list(self._running) + list(self._unsettled)
            self._queue.clear()
            self._running.clear()
            self._unsettled.clear()
        for job_id in unfinished:
            self._release(job_id)
        try:
            self._write_heartbeat(stopped=True)
        except Exception:  # noqa: BLE001
            logger.warning("could not mark the heartbeat stopped", exc_info=True)
        self._listener.join(timeout=timeout)  # it sees _closing within the listener's timeout
        self._notices.close()
        self._update_metrics()
        self._notify_changed()
        self.watchers.close()
        logger.info(
            "job manager %s closed (%d unfinished job(s) left PENDING to resume)",
            self.manager_id,
            len(unfinished),
        )

    def _release(self, job_id: str) -> None:
        """Leave one of our unfinished jobs PENDING for the next trainer (best effort).

        If the store refuses, the record stays as it was with this manager's heartbeat
        marked stopped (or going silent), and the next trainer adopts it all the same.
        """
        try:
            record = read_job(self.store, job_id)
            if is_terminal(record["state"]) or record.get("owner") != self.manager_id:
                return
            record.update(
                state=JobState.PENDING.value,
                worker=None,
                last_interruption=SHUTDOWN_NOTE,
                updated_at=utc_now(),
            )
            self.store.put_record(JOBS_NAMESPACE, job_id, record)
        except Exception:  # noqa: BLE001
            logger.warning(
                "job %s: could not leave it PENDING", job_id, exc_info=True, extra={"job_id": job_id}
            )

    def _terminate_workers(self) -> None:
        """Stop the worker processes now (a running job resumes from its last checkpoint)."""
        terminate = getattr(self._executor, "terminate_workers", None)  # Python >= 3.14
        if terminate is not None:
            terminate()
            return
        # Python < 3.14 has no public way to stop a busy pool; its process table is the one handle.
        for process in list((getattr(self._executor, "_processes", None) or {}).values()):
            if process.is_alive():
                process.terminate()
