"""Sweeps: a grid of training configurations, run by one of two executors.

A sweep request names a data set and the axes architectures × activations ×
initializers × seeds (plus options shared by every configuration). :class:`SweepManager`
validates the whole grid before anything is written, then writes one ordinary job
record per configuration (``jobs/<job_id>``, PENDING, with ``sweep_id`` and
``sweep_index``) and the sweep record (``sweeps/<sweep_id>``: the grid, the job ids
in grid order, the executor). The job records are what every reader already knows:
GetJob, WatchJob, CancelJob and ListModels work on a sweep's jobs unchanged.

One code path, two executors
----------------------------
Every configuration is trained by :func:`services.trainer.worker.run_sweep_index`
(sweep id, index → job id → :func:`~services.trainer.worker.run_training_job`):

- ``local`` (default; ``MOTIFLENS_SWEEP_EXECUTOR=local``): the jobs go on the trainer's
  own queue and its worker processes (``MOTIFLENS_TRAINER_CONCURRENCY``) call the
  entrypoint in-process;
- ``kubernetes``: the trainer creates one Indexed Job (:mod:`services.trainer.kube`)
  whose pods call the same entrypoint through ``python -m services.trainer.worker``.

Progress comes from the job records (every worker writes them) and, in a cluster,
from the Job's status: GetSweep reconciles the two, marking FAILED the jobs of
indexes Kubernetes gave up on, and every unfinished job once the Job is finished or
gone (a pod killed before it could write its outcome).

If creating the Kubernetes Job fails, the sweep's jobs are marked FAILED with the
cause, the sweep record keeps it in ``error``, and Sweep returns the error: nothing
is left PENDING that no one will run.
"""

from __future__ import annotations

import builtins
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

from motiflens_client.wire.vocabulary import activation_label

from motiflens.activations import resolve_params
from motiflens.errors import (
    FailedPreconditionError,
    InvalidInputError,
    MotiflensError,
    NotFoundError,
    ResourceExhaustedError,
)
from motiflens.models import ModelConfig
from services.common import pages
from services.common.config import (
    EXECUTOR_ENV,
    GPU_IMAGE_ENV,
    MAX_CONFIGS_ENV,
    MAX_PARALLELISM,
    SweepSettings,
)
from services.common.datasets import get_dataset_info
from services.common.store import check_id, new_id, utc_now
from services.trainer import kube
from services.trainer.jobs import (
    JobManager,
    JobState,
    is_terminal,
    model_config_from_spec,
    train_config_from_spec,
)
from services.trainer.worker import SWEEPS_NAMESPACE

logger = logging.getLogger(__name__)

SWEEP_ID_PREFIX = "sweep"


@dataclass(frozen=True)
class SweepRequest:
    """A sweep as the API gives it (0 / "" / empty = default, as in Train).

    Attributes
    ----------
    dataset_id : str
    architectures : sequence of str
    activations : sequence of (name, params) pairs
    seeds : sequence of int
        Empty: (0,).
    initializers : sequence of str
        Empty: ("glorot_uniform",).
    base_model : mapping
        Shared ModelSpec options: ``initializer_std``, ``width_multiplier`` (the axes
        ``architecture``, ``activation``, ``activation_params``, ``initializer`` and
        ``seed`` must be unset).
    training : mapping
        Shared TrainingSpec (see :func:`services.trainer.jobs.train_config_from_spec`).
    name : str
    parallelism : int
        0: the server's default.
    gpu : bool
    """

    dataset_id: str
    architectures: Sequence[str]
    activations: Sequence[tuple[str, Mapping[str, float]]]
    seeds: Sequence[int] = ()
    initializers: Sequence[str] = ()
    base_model: Mapping = field(default_factory=dict)
    training: Mapping = field(default_factory=dict)
    name: str = ""
    parallelism: int = 0
    gpu: bool = False


def check_sweep_id(sweep_id: str) -> str:
    """Return ``sweep_id`` if well formed ("sweep-<32 hex>"), else raise InvalidInputError."""
    return check_id(sweep_id, field_name="sweep_id", prefix=SWEEP_ID_PREFIX)


def _duplicates(values: Sequence) -> list:
    seen, repeated = set(), []
    for value in values:
        key = repr(value)
        if key in seen and value not in repeated:
            repeated.append(value)
        seen.add(key)
    return repeated


def expand_grid(
    request: SweepRequest, *, input_length: int, num_outputs: int, max_configs: int
) -> list[dict]:
    """Validate a sweep request and list its configurations in grid order.

    Order: architecture, then activation, then initializer, then seed (innermost), so
    consecutive indices are the seeds of one model.

    Parameters
    ----------
    request : SweepRequest
    input_length, num_outputs : int
        L and T of the data set.
    max_configs : int
        Largest grid accepted.

    Returns
    -------
    list of dict
        One per configuration: ``model_config`` and ``train_config`` (dicts of the
        resolved :class:`ModelConfig` / TrainConfig) and ``name``.

    Raises
    ------
    InvalidInputError
        An empty axis, a repeated value, an axis set in ``base_model``, or any value
        Train would reject (the message names the field and the value).
    ResourceExhaustedError
        More than ``max_configs`` configurations.
    """
    base = dict(request.base_model or {})
    for axis, plural in (
        ("architecture", "architectures"),
        ("activation", "activations"),
        ("activation_params", "activations[].params"),
        ("initializer", "initializers"),
        ("seed", "seeds"),
    ):
        if base.get(axis):
            raise InvalidInputError(f"base_model.{axis}: must be unset in a sweep; give it in {plural}")
    architectures = list(request.architectures)
    activations = [(name, dict(params or {})) for name, params in request.activations]
    seeds = [int(s) for s in request.seeds] or [0]
    initializers = list(request.initializers) or ["glorot_uniform"]
    axes: dict[str, Sequence[object]] = {
        "architectures": architectures,
        "activations": activations,
        "seeds": seeds,
        "initializers": initializers,
    }
    for axis in ("architectures", "activations"):
        if not axes[axis]:
            raise InvalidInputError(f"{axis}: expected at least one, got none")
    for axis, values in axes.items():
        repeated = _duplicates(values)
        if repeated:
            raise InvalidInputError(f"{axis}: each value once; repeated: {repeated[0]!r}")
    count = len(architectures) * len(activations) * len(seeds) * len(initializers)
    if count > max_configs:
        raise ResourceExhaustedError(
            f"sweep too large: {len(architectures)} architectures x {len(activations)} activations x "
            f"{len(initializers)} initializers x {len(seeds)} seeds = {count} configurations; the "
            f"limit is {max_configs} ({MAX_CONFIGS_ENV}); split it into several sweeps"
        )
    for index, (name, params) in enumerate(activations):
        if not name:
            raise InvalidInputError(f"activations[{index}].name: empty; expected an activation name")
        try:
            resolve_params(name, params)
        except InvalidInputError as exc:
            raise InvalidInputError(f"activations[{index}]: {exc}") from None
    for index, seed in enumerate(seeds):
        if seed < 0:
            raise InvalidInputError(f"seeds[{index}]: expected a non-negative integer, got {seed}")

    def spec(architecture, activation, params, initializer, seed) -> dict:
        return {
            **base,
            "architecture": architecture,
            "activation": activation,
            "activation_params": params,
            "initializer": initializer,
            "seed": seed,
        }

    # Building a model is the one complete check (names, pooling vs length, widths); the
    # activation does not change what builds, so one build per (architecture,
    # initializer) covers the grid without building hundreds of models in an RPC.
    checked: dict[tuple[str, str], ModelConfig] = {}
    for architecture in architectures:
        for initializer in initializers:
            checked[architecture, initializer] = model_config_from_spec(
                spec(architecture, "relu", {}, initializer, 0),
                input_length=input_length,
                num_outputs=num_outputs,
            )
    train_config = train_config_from_spec(request.training or {}, seed=0)
    configs = []
    for architecture in architectures:
        for name, params in activations:
            for initializer in initializers:
                for seed in seeds:
                    model_config = ModelConfig(
                        **{
                            **asdict(checked[architecture, initializer]),
                            "activation": name,
                            "activation_params": {k: float(v) for k, v in params.items()},
                            "seed": seed,
                        }
                    )
                    label = "/".join(
                        [architecture, activation_label(name, params), initializer, f"seed{seed}"]
                    )
                    configs.append(
                        {
                            "model_config": asdict(model_config),
                            "train_config": {**asdict(train_config), "seed": seed},
                            "name": f"{request.name}/{label}" if request.name else label,
                        }
                    )
    return configs


def summarise(jobs: Sequence[Mapping]) -> dict:
    """Counts by state, the sweep's state and its finish time, from its job records.

    The state is PENDING while no job has started, RUNNING while any job is
    unfinished, and once all are finished SUCCEEDED (all succeeded), FAILED (any
    failed) or CANCELLED (none failed, some cancelled).
    """
    counts = {state.value: 0 for state in JobState}
    for job in jobs:
        counts[job.get("state", JobState.PENDING.value)] += 1
    total = len(jobs)
    finished = counts["SUCCEEDED"] + counts["FAILED"] + counts["CANCELLED"]
    if total and finished == total:
        if counts["FAILED"]:
            state = JobState.FAILED
        elif counts["CANCELLED"]:
            state = JobState.CANCELLED
        else:
            state = JobState.SUCCEEDED
        finished_at = max((job.get("finished_at") or "" for job in jobs), default="")
    else:
        state = JobState.PENDING if counts["PENDING"] == total else JobState.RUNNING
        finished_at = ""
    return {"state": state.value, "counts": counts, "finished_at": finished_at}


class SweepManager:
    """Starts sweeps, reports their progress, cancels them.

    Parameters
    ----------
    jobs : JobManager
        The trainer's job manager (its store holds every record; the local executor
        queues on it).
    settings : SweepSettings, optional
    cluster : kube.KubernetesJobs, optional
        Job API for the kubernetes executor (default :class:`kube.ClusterJobs` in the
        configured or the pod's namespace, connected on first use).
    """

    def __init__(
        self,
        jobs: JobManager,
        settings: SweepSettings | None = None,
        *,
        cluster: kube.KubernetesJobs | None = None,
        resources: kube.PodResources | None = None,
    ):
        self.jobs = jobs
        self.resources = resources or kube.PodResources()
        self.store = jobs.store
        self.settings = settings or SweepSettings()
        if cluster is None and self.settings.executor == "kubernetes":
            cluster = kube.ClusterJobs(self.settings.namespace or kube.in_cluster_namespace() or "default")
        self.cluster = cluster

    # ---- starting
    def start(self, request: SweepRequest) -> dict:
        """Validate, record and launch a sweep; return its summary (see :meth:`get`).

        Raises
        ------
        InvalidInputError, NotFoundError, ResourceExhaustedError
            Bad request, unknown data set, grid over the limit (nothing written).
        FailedPreconditionError
            ``gpu`` in a cluster without a GPU image; the Kubernetes API refused the Job
            (its jobs are then FAILED with the cause).
        UnavailableError
            The trainer is shutting down, or the Kubernetes API is unreachable.
        """
        info = get_dataset_info(self.store, request.dataset_id)
        if request.parallelism < 0 or request.parallelism > MAX_PARALLELISM:
            raise InvalidInputError(
                f"parallelism: expected 0 (server default) to {MAX_PARALLELISM}, got {request.parallelism}"
            )
        if len(request.name) > 200:
            raise InvalidInputError(f"name: at most 200 characters, got {len(request.name)}")
        kubernetes = self.settings.executor == "kubernetes"
        image = self.settings.image
        if kubernetes and request.gpu:
            if not self.settings.gpu_image:
                raise FailedPreconditionError(
                    f"gpu: this trainer has no GPU image configured ({GPU_IMAGE_ENV}); "
                    "ask without gpu or configure the GPU trainer image"
                )
            image = self.settings.gpu_image
        configs = expand_grid(
            request,
            input_length=info.sequence_length,
            num_outputs=info.num_targets,
            max_configs=self.settings.max_configs,
        )
        sweep_id = new_id(SWEEP_ID_PREFIX)
        parallelism = min(request.parallelism or self.settings.parallelism, len(configs))
        executor = self.settings.executor
        job_ids = self.jobs.create_sweep_jobs(
            request.dataset_id, configs, sweep_id=sweep_id, executor=executor
        )
        record = {
            "sweep_id": sweep_id,
            "name": request.name,
            "dataset_id": request.dataset_id,
            "executor": executor,
            "job_ids": job_ids,
            "parallelism": parallelism if kubernetes else self.jobs.settings.concurrency,
            "gpu": bool(request.gpu),
            "grid": {
                "architectures": list(request.architectures),
                "activations": [{"name": n, "params": dict(p or {})} for n, p in request.activations],
                "initializers": list(request.initializers) or ["glorot_uniform"],
                "seeds": [int(s) for s in request.seeds] or [0],
                "base_model": dict(request.base_model or {}),
                "training": dict(request.training or {}),
            },
            "kubernetes_job": "",
            "error": "",
            "created_at": utc_now(),
            "created_time": time.time(),
        }
        if kubernetes:
            record["kubernetes_job"] = f"{self._kubernetes().namespace}/{kube.sweep_job_name(sweep_id)}"
        try:
            self.store.put_record(SWEEPS_NAMESPACE, sweep_id, record)
        except Exception as exc:  # noqa: BLE001 - no sweep record: its jobs must not stay PENDING
            for job_id in job_ids:
                self.jobs.fail_if_unfinished(job_id, f"could not record sweep {sweep_id}: {exc}")
            raise
        if not kubernetes:
            self.jobs.enqueue(job_ids)
        else:
            manifest = kube.sweep_job_manifest(
                sweep_id,
                completions=len(job_ids),
                parallelism=parallelism,
                namespace=self._kubernetes().namespace,
                image=image,
                gpu=request.gpu,
                resources=self.resources,
            )
            try:
                self._kubernetes().create_job(manifest)
            except MotiflensError as exc:
                error = f"could not create the Kubernetes Job: {exc}"
                record["error"] = error
                self.store.put_record(SWEEPS_NAMESPACE, sweep_id, record)
                for job_id in job_ids:
                    self.jobs.fail_if_unfinished(job_id, error)
                raise
        logger.info(
            "sweep %s: %d configurations on %s (%s executor)",
            sweep_id,
            len(job_ids),
            request.dataset_id,
            executor,
        )
        return self._summary(record, [self.jobs.get_job(job_id) for job_id in job_ids])

    # ---- reading
    def read(self, sweep_id: str) -> dict:
        """The sweep record; InvalidInputError / NotFoundError for a malformed / unknown id."""
        check_sweep_id(sweep_id)
        try:
            return self.store.get_record(SWEEPS_NAMESPACE, sweep_id)
        except NotFoundError:
            raise NotFoundError(f"sweep_id: no sweep {sweep_id!r}") from None

    def get(self, sweep_id: str) -> tuple[dict, list[dict]]:
        """The sweep's summary and its job records in grid order (reconciled with Kubernetes).

        The summary holds the record's fields plus ``state``, ``counts`` (jobs by
        state), ``finished_at`` and ``kubernetes_status`` (the Job's status in words,
        "" for the local executor).
        """
        record = self.read(sweep_id)
        jobs = [self.jobs.get_job(job_id) for job_id in record["job_ids"]]
        kubernetes_status = ""
        if record["executor"] == "kubernetes" and record.get("kubernetes_job") and not record.get("error"):
            jobs, status = self._reconcile(record, jobs)
            kubernetes_status = kube.describe_status(status)
        return self._summary(record, jobs, kubernetes_status), jobs

    def list(self, page_size: int = 0, page_token: str = "") -> tuple[list[dict], str]:
        """One page of sweep summaries, newest first, and the next page's token.

        Only the page's sweeps have their job records read (Kubernetes status not queried).
        """
        records, next_token = pages.page(
            [r for r in self.store.list_records(SWEEPS_NAMESPACE) if "sweep_id" in r],
            lambda r: (str(r.get("created_at", "")), str(r["sweep_id"])),
            page_size,
            page_token,
        )
        summaries = []
        for record in records:
            jobs = []
            for job_id in record.get("job_ids", []):
                try:
                    jobs.append(self.jobs.get_job(job_id))
                except NotFoundError:
                    continue
            summaries.append(self._summary(record, jobs))
        return summaries, next_token

    def cancel(self, sweep_id: str) -> dict:
        """Cancel every unfinished job of the sweep; return the summary afterwards."""
        record = self.read(sweep_id)
        for job_id in record["job_ids"]:
            self.jobs.cancel(job_id)
        logger.info("sweep %s: cancellation requested", sweep_id)
        summary, _ = self.get(sweep_id)
        return summary

    def kubernetes(self) -> kube.KubernetesJobs:
        """The Kubernetes API of this trainer (attribution jobs use it too); see :meth:`_kubernetes`."""
        return self._kubernetes()

    # ---- internals
    def _kubernetes(self) -> kube.KubernetesJobs:
        """The Kubernetes API this manager launches sweeps through.

        Raises
        ------
        FailedPreconditionError
            This trainer runs sweeps locally (no cluster configured), e.g. a Kubernetes
            sweep's record read by a local trainer sharing the store.
        """
        if self.cluster is None:
            raise FailedPreconditionError(
                f"this trainer has no Kubernetes executor ({EXECUTOR_ENV}=local); read Kubernetes "
                f"sweeps through a trainer started with {EXECUTOR_ENV}=kubernetes"
            )
        return self.cluster

    def _reconcile(
        self, record: Mapping, jobs: builtins.list[dict]
    ) -> tuple[builtins.list[dict], dict | None]:
        """Mark FAILED the jobs Kubernetes will not run any more; return jobs and Job status."""
        cluster = self._kubernetes()
        name = record["kubernetes_job"].split("/", 1)[1]
        status = cluster.job_status(name)
        unfinished = [i for i, job in enumerate(jobs) if not is_terminal(job["state"])]
        if not unfinished:
            return jobs, status
        where = f"kubectl -n {cluster.namespace} logs job/{name}"
        if status is None:
            reasons = dict.fromkeys(
                unfinished, f"the Kubernetes Job {record['kubernetes_job']} no longer exists (deleted?)"
            )
        else:
            reasons = {
                i: f"its pod (index {i}) failed {kube.BACKOFF_LIMIT_PER_INDEX + 1} times; see {where}"
                for i in kube.failed_indexes(status)
                if i in unfinished
            }
            finished = kube.finished_condition(status)
            if finished:
                for i in unfinished:
                    reasons.setdefault(
                        i,
                        f"the Kubernetes Job is {finished} but the pod of index {i} "
                        f"recorded no outcome; see {where}",
                    )
        for index, reason in reasons.items():
            self.jobs.fail_if_unfinished(jobs[index]["job_id"], reason)
            jobs[index] = self.jobs.get_job(jobs[index]["job_id"])
        return jobs, status

    @staticmethod
    def _summary(record: Mapping, jobs: Sequence[Mapping], kubernetes_status: str = "") -> dict:
        return {**record, **summarise(jobs), "kubernetes_status": kubernetes_status}
