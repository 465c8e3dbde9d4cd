"""Sweeps on Kubernetes: the Indexed Job a sweep becomes, and the few API calls it needs.

A sweep of n configurations is one ``batch/v1`` Job with ``completionMode: Indexed``
and ``completions: n``: Kubernetes starts one pod per index (at most ``parallelism``
at once) and sets ``JOB_COMPLETION_INDEX`` in it. Every pod runs the trainer image's
sweep entrypoint, ``python -m services.trainer.worker --sweep-id <id>``, which maps
its index to the job id recorded for it (``sweeps/<id>`` in the store) and runs
:func:`services.trainer.worker.run_training_job` — the same function the trainer's
local worker processes run. The pod reads the store URL and S3 credentials from the
same ConfigMap and Secret as the trainer (``deploy/base/11-configmap.yaml``, and the
``minio-credentials`` Secret deploy/README.md creates), carries the label that lets it through MinIO's
NetworkPolicy, and no service-account token (it never talks to the API server).

Retries: ``backoffLimitPerIndex`` (GA in Kubernetes 1.33) retries a pod that died
(OOM-killed, store unreachable: exit 1) on its own index, so one bad configuration
cannot use up the retries of the others; the ``podFailurePolicy`` fails an index at
once on exit 2 (unknown sweep or index) and does not count evictions. A training
that *fails* (bad data, NaN loss) is recorded FAILED in the store and its pod exits
0: retrying a deterministic failure would only waste nodes. Indexes Kubernetes gave
up on are listed in the Job's ``status.failedIndexes``; :func:`failed_indexes` parses
that list so the trainer can mark those jobs FAILED.

The API client (:class:`ClusterJobs`) uses the official ``kubernetes`` package with
the pod's service-account credentials; the trainer's Role (``deploy/base/12-trainer-rbac.yaml``)
allows Jobs and Pods in its namespace only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from motiflens.errors import FailedPreconditionError, UnavailableError

logger = logging.getLogger(__name__)

#: Names shared with deploy/: the settings ConfigMap, the MinIO credentials Secret
#: (keys MINIO_ROOT_USER / MINIO_ROOT_PASSWORD) and the label MinIO's NetworkPolicy admits.
CONFIG_MAP = "motiflens-config"
S3_SECRET = "minio-credentials"
MINIO_CLIENT_LABEL = "motiflens.io/minio-client"
SWEEP_LABEL = "motiflens.io/sweep-id"
ATTRIBUTION_JOB_LABEL = "motiflens.io/attribution-job-id"
SERVICE_ACCOUNT_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

#: The sweep pod's command; the index comes from Kubernetes (JOB_COMPLETION_INDEX).
WORKER_COMMAND = ("python", "-m", "services.trainer.worker")

#: Pod retries per index before Kubernetes marks the index failed.
BACKOFF_LIMIT_PER_INDEX = 2
#: Finished sweep Jobs (and their pods, with their logs) are deleted after a week;
#: the results live in the store, not in the Job.
TTL_SECONDS_AFTER_FINISHED = 7 * 24 * 3600
RUN_AS = 10001


@dataclass(frozen=True)
class PodResources:
    """Requests and limits of one sweep pod (the trainer Deployment's values by default)."""

    cpu_request: str = "1"
    memory_request: str = "2Gi"
    cpu_limit: str = "4"
    memory_limit: str = "8Gi"


def sweep_job_name(sweep_id: str) -> str:
    """The Kubernetes Job name of a sweep: its id ("sweep-<32 hex>", 38 characters, a valid DNS label)."""
    return sweep_id


def sweep_job_manifest(
    sweep_id: str,
    *,
    completions: int,
    parallelism: int,
    namespace: str,
    image: str,
    gpu: bool = False,
    resources: PodResources | None = None,
) -> dict:
    """The ``batch/v1`` Indexed Job that trains a sweep, as a JSON-ready dict.

    Parameters
    ----------
    sweep_id : str
        The sweep ("sweep-<32 hex>"); also the Job's name.
    completions : int
        Number of configurations n (indices 0 .. n-1).
    parallelism : int
        Pods at once (clipped to ``completions``).
    namespace : str
        Namespace of the trainer (the Job, its pods and the ConfigMap/Secrets live there).
    image : str
        Trainer image (the GPU variant when ``gpu``).
    gpu : bool, default False
        Request one ``nvidia.com/gpu`` per pod and schedule on GPU nodes.
    resources : PodResources, optional

    Returns
    -------
    dict
        The Job object, ready for ``create_namespaced_job``.
    """
    return indexed_job_manifest(
        sweep_job_name(sweep_id),
        args=("--sweep-id", sweep_id),
        completions=completions,
        parallelism=parallelism,
        namespace=namespace,
        image=image,
        gpu=gpu,
        resources=resources,
        component="sweep",
        labels={SWEEP_LABEL: sweep_id},
    )


def indexed_job_manifest(
    name: str,
    *,
    args: tuple[str, ...],
    completions: int,
    parallelism: int,
    namespace: str,
    image: str,
    component: str,
    labels: Mapping[str, str],
    gpu: bool = False,
    resources: PodResources | None = None,
) -> dict:
    """An Indexed Job whose pods run ``python -m services.trainer.worker <args>`` (sweeps, attribution jobs).

    ``name`` is the Job's name, ``component`` its ``app.kubernetes.io/component``
    label and ``labels`` its own ones; the other parameters as for
    :func:`sweep_job_manifest`. Pods get ``JOB_COMPLETION_INDEX`` from Kubernetes.
    """
    resources = resources or PodResources()
    labels = {
        "app.kubernetes.io/name": f"{component}-worker",
        "app.kubernetes.io/part-of": "motiflens",
        "app.kubernetes.io/component": component,
        **labels,
    }
    limits = {"cpu": resources.cpu_limit, "memory": resources.memory_limit}
    if gpu:
        limits["nvidia.com/gpu"] = "1"
    container = {
        "name": "train",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": [*WORKER_COMMAND, *args],
        "envFrom": [{"configMapRef": {"name": CONFIG_MAP}}],
        "env": [
            {
                "name": "MOTIFLENS_S3_ACCESS_KEY",
                "valueFrom": {"secretKeyRef": {"name": S3_SECRET, "key": "MINIO_ROOT_USER"}},
            },
            {
                "name": "MOTIFLENS_S3_SECRET_KEY",
                "valueFrom": {"secretKeyRef": {"name": S3_SECRET, "key": "MINIO_ROOT_PASSWORD"}},
            },
        ],
        "resources": {
            "requests": {"cpu": resources.cpu_request, "memory": resources.memory_request},
            "limits": limits,
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "numba-cache", "mountPath": "/var/cache/numba"},
        ],
    }
    pod_spec = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "numba-cache", "emptyDir": {}}],
    }
    if gpu:
        pod_spec["nodeSelector"] = {"nvidia.com/gpu.present": "true"}
        pod_spec["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "completionMode": "Indexed",
            "completions": int(completions),
            "parallelism": max(1, min(int(parallelism), int(completions))),
            "backoffLimitPerIndex": BACKOFF_LIMIT_PER_INDEX,
            "podFailurePolicy": {
                "rules": [
                    # Exit 2: unknown sweep, job or index; another try cannot help.
                    {
                        "action": "FailIndex",
                        "onExitCodes": {"containerName": "train", "operator": "In", "values": [2]},
                    },
                    # Evictions and preemptions do not use up the index's retries.
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
                ]
            },
            "ttlSecondsAfterFinished": TTL_SECONDS_AFTER_FINISHED,
            "template": {
                "metadata": {"labels": {**labels, MINIO_CLIENT_LABEL: "true"}},
                "spec": pod_spec,
            },
        },
    }


def failed_indexes(status: Mapping) -> set[int]:
    """Indexes Kubernetes gave up on, from a Job status's ``failedIndexes`` ("1,3-5" -> {1, 3, 4, 5})."""
    text = (status or {}).get("failedIndexes") or ""
    indexes: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        low, _, high = part.partition("-")
        indexes.update(range(int(low), int(high or low) + 1))
    return indexes


def finished_condition(status: Mapping) -> str:
    """Return "Complete" or "Failed" when the Job has that condition set to True, else ""."""
    for condition in (status or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return condition["type"]
    return ""


def describe_status(status: Mapping | None) -> str:
    """The Job status in words, e.g. "active 2, succeeded 5, failed 0 (Complete)"."""
    if status is None:
        return "the Kubernetes Job no longer exists"
    words = (
        f"active {status.get('active') or 0}, succeeded {status.get('succeeded') or 0}, "
        f"failed {status.get('failed') or 0}"
    )
    finished = finished_condition(status)
    if failed_indexes(status):
        words += f", failed indexes {status['failedIndexes']}"
    return f"{words} ({finished})" if finished else words


class KubernetesJobs(Protocol):
    """The Job operations a sweep needs, in one namespace."""

    namespace: str

    def create_job(self, manifest: Mapping) -> None:
        """Create the Job; raise UnavailableError / FailedPreconditionError on failure."""

    def job_status(self, name: str) -> dict | None:
        """The Job's ``status`` as a dict (camelCase keys), or None when it does not exist."""


def in_cluster_namespace() -> str:
    """The pod's namespace from its service-account mount, or "" outside a pod."""
    try:
        return SERVICE_ACCOUNT_NAMESPACE_FILE.read_text().strip()
    except OSError:
        return ""


class ClusterJobs:
    """:class:`KubernetesJobs` through the Kubernetes API with the pod's service account.

    The ``kubernetes`` client is imported and configured on first use, so a trainer
    whose configuration names this executor still starts (and answers health checks)
    where no API server is reachable; the first ``Sweep`` then fails with a clear
    FAILED_PRECONDITION.

    Parameters
    ----------
    namespace : str
        Where the Jobs go (normally the trainer's own namespace).
    """

    def __init__(self, namespace: str):
        self.namespace = namespace
        self._api = None

    def _batch(self):
        if self._api is None:
            try:
                from kubernetes import client, config

                config.load_incluster_config()
            except Exception as exc:  # noqa: BLE001 - ConfigException, ImportError, missing files
                raise FailedPreconditionError(
                    "sweeps: MOTIFLENS_SWEEP_EXECUTOR=kubernetes but no in-cluster Kubernetes "
                    f"configuration was found ({exc}); run the trainer in a pod with a service "
                    "account (deploy/base/12-trainer-rbac.yaml) or set MOTIFLENS_SWEEP_EXECUTOR=local"
                ) from None
            self._api = client.BatchV1Api()
        return self._api

    def create_job(self, manifest: Mapping) -> None:
        """Create the Job in :attr:`namespace`."""
        from kubernetes.client.exceptions import ApiException

        try:
            self._batch().create_namespaced_job(self.namespace, dict(manifest))
        except ApiException as exc:
            raise _api_error("creating", manifest["metadata"]["name"], exc) from None

    def job_status(self, name: str) -> dict | None:
        """The Job's status (camelCase keys, as ``kubectl get -o json``); None when it is gone."""
        from kubernetes.client.exceptions import ApiException

        api = self._batch()
        try:
            job = api.read_namespaced_job_status(name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _api_error("reading", name, exc) from None
        return api.api_client.sanitize_for_serialization(job).get("status") or {}


def _api_error(action: str, name: str, exc) -> Exception:
    message = f"Kubernetes API error {action} Job {name!r}: {exc.status} {exc.reason}"
    if exc.status in (401, 403):
        return FailedPreconditionError(
            f"{message}; the trainer's service account needs the Role in deploy/base/12-trainer-rbac.yaml"
        )
    if exc.status in (400, 409, 422):
        return FailedPreconditionError(f"{message}: {(exc.body or '')[:500]}")
    return UnavailableError(message)
