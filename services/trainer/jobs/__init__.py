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
  manager that accepted or adopted it) and ``worker`` (host, pid and attempt token of
  the process running it); ``resumes`` (how often it was re-queued after an
  interruption), ``resumed_from_epoch`` (the checkpoint epoch its latest worker
  started from) and ``last_interruption`` (what interrupted it); ``executor``
  ("local", or "kubernetes" for a job a sweep's pod runs; such jobs have no owner and
  the orphan sweep leaves them to GetSweep's reconciliation), and for a sweep's jobs
  ``sweep_id`` and ``sweep_index`` (see :mod:`services.trainer.sweeps`);
- ``blobs/job_checkpoints/<job_id>``: the latest epoch's checkpoint (weights,
  optimiser state, plateau controller, best weights, history), overwritten each
  epoch before the events and the record, deleted when the job finishes;
- ``job_events/<job_id>``: ``{"events": [EpochEvent dicts]}``, rewritten after each
  epoch before the job record, so a reader of the job record then the events never
  misses an epoch the record counts;
- ``job_cancels/<job_id>``: present once cancellation of a running job was requested.
  It is a separate record so that the worker's per-epoch writes and a cancel request
  never overwrite each other; the worker checks it after every epoch;
- ``trainers/<manager_id>``: a heartbeat (host, pid and pid namespace, interval,
  time) written every ``heartbeat_seconds`` by each live manager and marked stopped
  on close.

Records are checksummed (see :mod:`services.common.store`): a corrupt job record
makes GetJob of that id FAILED_PRECONDITION naming it, and every listing (ListJobs,
the orphan sweep, the metrics) skips it, so the other jobs go on.

State changes: the manager writes PENDING (accepted, or re-queued to resume),
RUNNING (handed to a worker), CANCELLED (cancelled while queued) and FAILED (past
the resume limit, or a worker error); the worker writes RUNNING with its pid, each
epoch, and the final SUCCEEDED, FAILED or CANCELLED.

Restart choice: resume from the last checkpoint
-----------------------------------------------
A job interrupted before it finished continues from its last completed epoch instead
of failing: every epoch is checkpointed with the whole training state (weights, Adam
state, the plateau schedule, best weights and best value, the early-stopping count),
so the resumed run follows the paper's recipe as if uninterrupted (only the
mini-batch order differs). Interruptions and what happens:

- the worker process dies (killed, out of memory) or gives up on an unreachable
  store (its calls retry for ``store_retry_seconds`` first): the manager re-queues
  the job at the head of its queue;
- the trainer is closed (SIGTERM): its queued and running jobs are left PENDING with
  its heartbeat marked stopped, for the next trainer to adopt;
- the trainer dies (SIGKILL, node loss; its workers die with it): on start-up and
  every ``orphan_sweep_seconds`` each manager adopts the PENDING or RUNNING jobs
  whose owner is gone (no heartbeat, a stopped one, a dead pid on this host, or
  silent for three of its heartbeat intervals while this manager could reach the
  store all along, so an outage that silenced everyone convicts no one).

A job re-queued while it was RUNNING counts one resume (jobs a closing trainer left
PENDING do not: an orderly restart is not the job's fault); past ``max_resumes``
(default 3) it is FAILED with the last interruption and "gave up after N resume(s)",
since a job that keeps dying (e.g. out of memory) must stop somewhere. The worker that
resumes writes ``resumed_from_epoch``, rewrites the event history from the
checkpoint (every epoch appears once) and trains the remaining epochs. A job owned
by another live replica is left alone; a worker that finds its job taken over by
another worker (or finished) stops at its next epoch without writing.

Modules
-------
- settings: :class:`services.common.config.JobSettings` (with every other variable);
- :mod:`.specs` — API model / training specs -> validated ModelConfig / TrainConfig;
- :mod:`.records` — :class:`JobState`, record namespaces and messages, :func:`read_job`,
  :func:`read_events`, :func:`list_models`;
- :mod:`.liveness` — heartbeat records and the dead-process check behind adoption;
- :mod:`.manager` — :class:`JobManager` (queue, dispatch, reaping, adoption, shutdown).

The worker processes' entrypoints are in :mod:`services.trainer.worker`. Every name
below is re-exported here, so callers import from ``services.trainer.jobs``.
"""

from services.trainer.jobs.manager import JobManager
from services.trainer.jobs.records import (
    CANCELLED_QUEUED,
    CANCELS_NAMESPACE,
    CHECKPOINTS_NAMESPACE,
    EVENTS_NAMESPACE,
    INTERRUPTED_ERROR,
    JOB_ID_PREFIX,
    JOBS_NAMESPACE,
    MODEL_KIND,
    SHUTDOWN_ERROR,
    SHUTDOWN_NOTE,
    TERMINAL_STATES,
    TRAINERS_NAMESPACE,
    WORKER_DIED,
    JobState,
    cancel_requested,
    check_job_id,
    is_terminal,
    list_models,
    read_events,
    read_job,
)
from services.trainer.jobs.specs import model_config_from_spec, train_config_from_spec

__all__ = [
    "CANCELLED_QUEUED",
    "CANCELS_NAMESPACE",
    "CHECKPOINTS_NAMESPACE",
    "EVENTS_NAMESPACE",
    "INTERRUPTED_ERROR",
    "JOB_ID_PREFIX",
    "JOBS_NAMESPACE",
    "MODEL_KIND",
    "SHUTDOWN_ERROR",
    "SHUTDOWN_NOTE",
    "TERMINAL_STATES",
    "TRAINERS_NAMESPACE",
    "WORKER_DIED",
    "JobManager",
    "JobState",
    "cancel_requested",
    "check_job_id",
    "is_terminal",
    "list_models",
    "model_config_from_spec",
    "read_events",
    "read_job",
    "train_config_from_spec",
]
