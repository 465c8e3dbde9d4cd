"""Sweeps through the SDK: the local executor, and the Kubernetes executor up to the API server.

No cluster runs here, so the Kubernetes side is tested up to its edge: the trainer
hands its Job to :class:`RecordingCluster` (the two calls of
:class:`services.trainer.kube.KubernetesJobs`, answering with the Job statuses a
cluster would report); everything else is real — the gRPC trainer, the S3 store on a
loopback server, and the pods' command run as processes with the environment their
manifest gives them (ConfigMap and Secret from deploy/ resolved, MinIO's address
moved to the loopback server), ``JOB_COMPLETION_INDEX`` set as Kubernetes sets it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import numpy as np
import pytest
from kustomize_render import build, config_maps_and_secrets
from motiflens_client import (
    Client,
    DatasetSplit,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from planted import detector, planted_sequences
from test_cli import run_cli
from test_manifests_run import resolved_env

from motiflens.errors import FailedPreconditionError
from services.common.config import JobSettings, SweepSettings
from services.common.metrics import ServiceMetrics
from services.common.store import open_store
from services.trainer import worker
from services.trainer.jobs import CANCELS_NAMESPACE, JobManager
from services.trainer.servicer import SERVICE_NAME, TrainerServicer
from services.trainer.sweeps import SweepManager
from services.trainer.worker import RUN_FILES
from tests.service.helpers import make_settings, running_server

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
GRID = {"architectures": ["cnn_2"], "activations": ["relu", "exponential"], "seeds": [3], "epochs": 1}


@dataclass
class RecordingCluster:
    """The Kubernetes Job API at its edge: keeps the Jobs it is given, reports set statuses."""

    namespace: str = "motiflens"
    manifests: dict[str, dict] = field(default_factory=dict)
    statuses: dict[str, dict | None] = field(default_factory=dict)
    refuse: Exception | None = None

    def create_job(self, manifest) -> None:
        if self.refuse is not None:
            raise self.refuse
        name = manifest["metadata"]["name"]
        self.manifests[name] = json.loads(json.dumps(manifest))  # what would go over the wire
        self.statuses[name] = {
            "active": min(manifest["spec"]["parallelism"], manifest["spec"]["completions"])
        }

    def job_status(self, name: str) -> dict | None:
        return self.statuses.get(name)


@dataclass
class Trainer:
    client: Client
    jobs: JobManager
    store_url: str


@contextlib.contextmanager
def trainer(
    store_url: str,
    *,
    cluster: RecordingCluster | None = None,
    concurrency: int = 1,
    max_configs: int = 1000,
) -> Iterator[Trainer]:
    """A TrainerService on loopback; with ``cluster`` it runs sweeps with the kubernetes executor."""
    store = open_store(store_url)
    metrics = ServiceMetrics()
    jobs = JobManager(store_url, JobSettings(concurrency=concurrency), store=store, metrics=metrics)
    if cluster is None:
        settings = SweepSettings(max_configs=max_configs)
    else:
        settings = SweepSettings(
            executor="kubernetes", image="motiflens/trainer:0.1.0", max_configs=max_configs, parallelism=4
        )
    servicer = TrainerServicer(store, jobs, SweepManager(jobs, settings, cluster=cluster))
    try:
        with running_server(
            servicer.register, service_name=SERVICE_NAME, settings=make_settings("trainer"), store=store
        ) as running:
            with Client(f"127.0.0.1:{running.port}", timeout=60) as client:
                yield Trainer(client, jobs, store_url)
    finally:
        jobs.close()


def _deploy_config() -> tuple[dict, dict]:
    """ConfigMaps and Secrets of the rendered dev overlay (the base plus generated Secrets)."""
    return config_maps_and_secrets(build("dev"))


def deployed_store_url(s3_server) -> str:
    """The ConfigMap's store URL with a fresh bucket and MinIO's address moved to the loopback server."""
    config_maps, _ = _deploy_config()
    url = urlsplit(config_maps["motiflens-config"]["MOTIFLENS_STORE"])
    query = "&".join(
        f"endpoint={s3_server.endpoint}" if part.startswith("endpoint=") else part
        for part in url.query.split("&")
    )
    return f"s3://{s3_server.create_bucket()}{url.path}?{query}"


def pod_env(manifest: dict, index: int, store_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment Kubernetes gives pod ``index`` of a sweep Job, with the store on loopback.

    ConfigMap and Secret values come from deploy/ (credentials included); of the store
    URL only the bucket and MinIO's address differ (see :func:`deployed_store_url`).
    """
    config_maps, secrets = _deploy_config()
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    env = resolved_env(container, config_maps, secrets)
    deployed, local = urlsplit(env["MOTIFLENS_STORE"]), urlsplit(store_url)
    assert (deployed.scheme, deployed.path) == (local.scheme, local.path)
    env["MOTIFLENS_STORE"] = store_url
    env.update(
        JOB_COMPLETION_INDEX=str(index),
        NUMBA_CACHE_DIR=str(tmp_path / "numba"),
        HOME=str(tmp_path),
        TF_CPP_MIN_LOG_LEVEL="2",
        MOTIFLENS_HOST="127.0.0.1",
    )
    return env


def run_pods(manifest: dict, indices: list[int], store_url: str, tmp_path: Path) -> None:
    """Run the Job's pod command for each index (concurrently, as parallel pods); all must exit 0."""
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    command = container["command"] + container.get("args", [])
    assert command[0] == "python"
    processes = [
        subprocess.Popen(
            [sys.executable, *command[1:]],
            env={**os.environ, **pod_env(manifest, index, store_url, tmp_path)},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for index in indices
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=240)
        assert process.returncode == 0, stderr.decode()[-3000:]


def dataset(client: Client) -> str:
    return client.create_task(1, num_sequences=300, name="sweep-test").dataset_id


# --------------------------------------------------------------------------- the two executors


def test_kubernetes_pods_produce_what_the_local_executor_produces(s3_server, tmp_path):
    store_url = deployed_store_url(s3_server)
    cluster = RecordingCluster()
    with trainer(store_url) as local, trainer(store_url, cluster=cluster) as kube_trainer:
        dataset_id = dataset(local.client)
        local_sweep = local.client.sweep(dataset_id, name="grid", **GRID)
        kube_sweep = kube_trainer.client.sweep(dataset_id, name="grid", **GRID, parallelism=8)

        # What the trainer asked Kubernetes for: one Indexed Job, a pod per configuration.
        info = kube_sweep.info()
        assert (info.executor, info.state, info.total, info.pending) == ("kubernetes", "PENDING", 2, 2)
        assert info.kubernetes_job == f"motiflens/{kube_sweep.sweep_id}"
        assert info.parallelism == 2  # clipped to the configurations
        (manifest,) = cluster.manifests.values()
        kubernetes_validate.validate(manifest, "1.33", strict=True)
        assert manifest["spec"]["completions"] == 2 and manifest["spec"]["parallelism"] == 2
        assert manifest["spec"]["template"]["spec"]["containers"][0]["command"][-1] == kube_sweep.sweep_id

        local_info = local_sweep.wait(timeout=240)
        run_pods(manifest, [0, 1], store_url, tmp_path)
        cluster.statuses[kube_sweep.sweep_id] = {
            "active": 0,
            "succeeded": 2,
            "completedIndexes": "0-1",
            "conditions": [{"type": "Complete", "status": "True"}],
        }
        kube_info = kube_sweep.info()

        assert (local_info.executor, local_info.state, local_info.succeeded) == ("local", "SUCCEEDED", 2)
        assert (kube_info.state, kube_info.succeeded, kube_info.failed) == ("SUCCEEDED", 2, 0)
        assert kube_info.kubernetes_status == "active 0, succeeded 2, failed 0 (Complete)"
        assert kube_info.finished_at >= kube_info.created_at

        local_jobs, kube_jobs = local_sweep.jobs(), kube_sweep.jobs()
        store = open_store(store_url)
        for index, (a, b) in enumerate(zip(local_jobs, kube_jobs, strict=True)):
            assert (a.sweep_index, b.sweep_index) == (index, index)
            assert (a.sweep_id, b.sweep_id) == (local_sweep.sweep_id, kube_sweep.sweep_id)
            assert a.name == b.name == f"grid/cnn_2/{GRID['activations'][index]}/glorot_uniform/seed3"
            assert (a.activation, a.seed, a.epochs_done) == (b.activation, b.seed, b.epochs_done)
            # The same artifact from either executor: same files, same configs, same numbers
            # (training on CPU is deterministic for a seed).
            ma, mb = store.get_manifest(a.model_id), store.get_manifest(b.model_id)
            assert set(ma.objects) == set(mb.objects) == set(RUN_FILES)
            for key in ("model_config", "train_config", "dataset_id", "input_length", "num_outputs", "name"):
                assert ma.metadata[key] == mb.metadata[key], key
            assert ma.metadata["test_metrics"]["auroc"] == pytest.approx(
                mb.metadata["test_metrics"]["auroc"], abs=1e-6
            )
            assert a.test_metrics.aupr == pytest.approx(b.test_metrics.aupr, abs=1e-6)
            assert json.loads(store.read_object(a.model_id, "history.json"))[0]["loss"] == pytest.approx(
                json.loads(store.read_object(b.model_id, "history.json"))[0]["loss"], rel=1e-5
            )
        models = {m.model_id for m in local.client.list_models(dataset_id)}
        assert set(local_sweep.model_ids()) | set(kube_sweep.model_ids()) == models
        sweeps = [s.sweep_id for s in local.client.list_sweeps()]
        assert sweeps == [kube_sweep.sweep_id, local_sweep.sweep_id]  # newest first


def test_an_attribution_job_on_kubernetes_is_one_indexed_job_whose_pods_merge(s3_server, tmp_path):
    """The sweep executor runs attribution jobs: a pod per shard; the pod that finds every shard merges."""
    store_url = deployed_store_url(s3_server)
    cluster = RecordingCluster()
    detector().save(tmp_path / "detector.keras")
    sequences, _ = planted_sequences()
    fasta = "".join(f">seq{i}\n{s}\n" for i, s in enumerate(sequences))
    with trainer(store_url) as local, trainer(store_url, cluster=cluster) as kube_trainer:
        model_id = local.client.import_model(tmp_path / "detector.keras").model_id
        dataset_id = local.client.import_fasta(fasta, [1] * len(sequences)).dataset_id
        rows = DatasetSplit(dataset_id, "train", limit=90)
        options = {"method": "deepshap", "num_references": 2, "seed": 1, "shard_size": 30}
        local_job = local.client.attribute_split(model_id, rows, **options)
        kube_job = kube_trainer.client.attribute_split(model_id, rows, **options, parallelism=2)

        (manifest,) = cluster.manifests.values()
        kubernetes_validate.validate(manifest, "1.33", strict=True)
        assert manifest["metadata"]["name"] == kube_job.job_id
        assert (manifest["spec"]["completions"], manifest["spec"]["parallelism"]) == (3, 2)
        command = manifest["spec"]["template"]["spec"]["containers"][0]["command"]
        assert command[-2:] == ["--attribution-job", kube_job.job_id]
        info = kube_job.info()
        assert (info.state, info.executor, info.shards, info.shards_done) == ("PENDING", "kubernetes", 3, 0)

        local_info = local_job.wait(timeout=600, progress=False)
        run_pods(manifest, [2, 0], store_url, tmp_path)  # two of three shards: nothing merged yet
        info = kube_job.info()
        assert (info.state, info.shards_done, info.sequences_done, info.attributions_id) == (
            "RUNNING",
            2,
            60,
            "",
        )
        run_pods(manifest, [1], store_url, tmp_path)
        kube_info = kube_job.wait(timeout=120, progress=False)
        assert (kube_info.state, kube_info.shards_done) == ("SUCCEEDED", 3)
        a = local.client.read_attributions(local_info.attributions_id)
        b = kube_trainer.client.read_attributions(kube_info.attributions_id)
        np.testing.assert_array_equal(a.one_hot, b.one_hot)
        np.testing.assert_allclose(a.hypothetical, b.hypothetical, atol=1e-6)
        assert not open_store(store_url).list_artifacts("attribution_shard")

        # Kubernetes gives up on a shard: the job is FAILED, naming it, at the next GetJob.
        failing = kube_trainer.client.attribute_split(model_id, rows, **options)
        cluster.statuses[failing.job_id] = {"active": 1, "failed": 3, "failedIndexes": "1"}
        info = failing.info()
        assert info.state == "FAILED" and "shard(s) 1 failed 3 times" in info.error
        refused = RecordingCluster(refuse=FailedPreconditionError("quota exceeded"))
    with trainer(store_url, cluster=refused) as refusing:
        with pytest.raises(FailedPrecondition, match="quota exceeded"):
            refusing.client.attribute_split(model_id, rows, **options)
        (job,) = [
            j
            for j in refusing.jobs.list_jobs()
            if j["job_id"] not in (kube_job.job_id, failing.job_id) and j.get("executor") == "kubernetes"
        ]
        assert job["state"] == "FAILED" and "quota exceeded" in job["error"]


def test_a_variants_job_on_kubernetes_is_one_indexed_job_too(s3_server, tmp_path):
    """ScoreVariantsJob with the sweep executor: a pod per shard, merged by the pod that finds all."""
    store_url = deployed_store_url(s3_server)
    cluster = RecordingCluster()
    detector().save(tmp_path / "detector.keras")
    rng = np.random.default_rng(2)
    chrom = "".join(rng.choice(list("ACGT"), 600))
    (tmp_path / "genome.fa").write_text(f">chr1\n{chrom}\n")
    lines = [
        f"chr1\t{p}\t.\t{chrom[p - 1]}\t{'ACGT'[('ACGT'.index(chrom[p - 1]) + 1) % 4]}\t.\t.\t."
        for p in range(100, 400, 10)
    ]
    (tmp_path / "calls.vcf").write_text(
        "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + "\n".join(lines) + "\n"
    )
    with trainer(store_url) as local, trainer(store_url, cluster=cluster) as kube_trainer:
        model_id = local.client.import_model(tmp_path / "detector.keras").model_id
        genome = local.client.upload(tmp_path / "genome.fa").upload_id
        vcf = local.client.upload(tmp_path / "calls.vcf").upload_id
        options = {"vcf_upload_id": vcf, "genome_upload_id": genome, "shard_size": 12}
        local_info = local.client.score_variants_job(model_id, **options).wait(timeout=600)
        kube_job = kube_trainer.client.score_variants_job(model_id, **options, parallelism=2)
        (manifest,) = cluster.manifests.values()
        kubernetes_validate.validate(manifest, "1.33", strict=True)
        command = manifest["spec"]["template"]["spec"]["containers"][0]["command"]
        assert command[-2:] == ["--variants-job", kube_job.job_id] and manifest["spec"]["completions"] == 3
        run_pods(manifest, [2, 0], store_url, tmp_path)
        info = kube_job.info()
        assert (info.state, info.shards_done, info.variants_id) == ("RUNNING", 2, "")
        run_pods(manifest, [1], store_url, tmp_path)
        kube_info = kube_job.wait(timeout=120)
        assert (kube_info.state, kube_info.alleles) == ("SUCCEEDED", 30)
        a = local.client.read_variant_scores(local_info.variants_id)
        b = kube_trainer.client.read_variant_scores(kube_info.variants_id)
        assert a.summary == b.summary and a.summary["scored"] == 30
        for x, y in zip(a.variants, b.variants, strict=True):
            assert (x.pos, x.alt) == (y.pos, y.alt)
            np.testing.assert_allclose(x.effect, y.effect, atol=1e-6)


# --------------------------------------------------------------------------- local executor


def test_local_sweep_queue_cancel_and_errors(tmp_path):
    with trainer((tmp_path / "store").as_uri(), max_configs=4) as running:
        client = running.client
        dataset_id = dataset(client)
        # Three configurations, one worker: cancel while the first trains.
        sweep = client.sweep(
            dataset_id, architectures=["cnn_2"], activations=["relu"], seeds=[0, 1, 2], epochs=50, patience=-1
        )
        jobs = sweep.jobs()
        assert [j.sweep_index for j in jobs] == [0, 1, 2] and [j.seed for j in jobs] == [0, 1, 2]
        assert {j.job_id for j in jobs} <= {j.job_id for j in client.list_jobs()}
        assert client.get_sweep(sweep.sweep_id).sweep_id == sweep.sweep_id
        cancelled = sweep.cancel()
        assert cancelled.cancelled >= 2  # the queued ones at once
        final = sweep.wait(timeout=120, poll=0.5)
        assert final.state == "CANCELLED" and final.cancelled == 3 and final.finished_at
        assert sweep.model_ids() == []

        with pytest.raises(InvalidArgument, match="architectures: expected at least one"):
            client.sweep(dataset_id, architectures=[], activations=["relu"])
        with pytest.raises(InvalidArgument, match="activations\\[1\\]: activation: unknown name 'expo'"):
            client.sweep(dataset_id, architectures=["cnn_2"], activations=["relu", "expo"])
        with pytest.raises(ResourceExhausted, match="= 6 configurations; the limit is 4"):
            client.sweep(dataset_id, architectures=["cnn_2", "cnn_50"], activations=["relu"], seeds=[0, 1, 2])
        with pytest.raises(NotFound, match="no data set"):
            client.sweep("ds-" + "0" * 32, architectures=["cnn_2"], activations=["relu"])
        with pytest.raises(InvalidArgument, match="parallelism"):
            client.sweep(dataset_id, architectures=["cnn_2"], activations=["relu"], parallelism=-1)
        with pytest.raises(NotFound, match="no sweep"):
            client.get_sweep("sweep-" + "0" * 32)
        with pytest.raises(InvalidArgument, match="sweep_id"):
            client.get_sweep("../etc")
        # A rejected request wrote nothing.
        assert [s.sweep_id for s in client.list_sweeps()] == [sweep.sweep_id]
        assert len(client.list_jobs()) == 3


# --------------------------------------------------------------------------- kubernetes executor


def test_kubernetes_progress_failures_and_cancellation(s3_server, tmp_path, monkeypatch):
    store_url = deployed_store_url(s3_server)
    cluster = RecordingCluster()
    with trainer(store_url, cluster=cluster) as running:
        client = running.client
        dataset_id = dataset(client)
        grid = {"architectures": ["cnn_2"], "activations": ["relu", "exponential", "elu"], "epochs": 1}

        # Kubernetes gives up on index 1, then the Job is deleted under the sweep.
        sweep = client.sweep(dataset_id, **grid)
        cluster.statuses[sweep.sweep_id] = {"active": 2, "failed": 3, "failedIndexes": "1"}
        info = sweep.info()
        assert (info.state, info.pending, info.failed) == ("RUNNING", 2, 1)
        assert info.kubernetes_status == "active 2, succeeded 0, failed 3, failed indexes 1"
        failed = sweep.jobs()[1]
        assert failed.state == "FAILED"
        assert f"index 1) failed 3 times; see kubectl -n motiflens logs job/{sweep.sweep_id}" in failed.error
        cluster.statuses[sweep.sweep_id] = None
        info = sweep.info()
        assert (info.state, info.failed) == ("FAILED", 3)
        assert "no longer exists" in sweep.jobs()[0].error

        # A finished Job whose pod wrote nothing (killed before it could): FAILED, not PENDING forever.
        sweep = client.sweep(dataset_id, **grid)
        cluster.statuses[sweep.sweep_id] = {
            "succeeded": 3,
            "conditions": [{"type": "Complete", "status": "True"}],
        }
        assert sweep.info().failed == 3
        assert "recorded no outcome" in sweep.jobs()[2].error

        # Cancelling: PENDING jobs are CANCELLED now; a pod that starts later exits 0 at once.
        sweep = client.sweep(dataset_id, **grid)
        info = sweep.cancel()
        assert (info.state, info.cancelled) == ("CANCELLED", 3)
        store = open_store(store_url)
        assert len(store.list_records(CANCELS_NAMESPACE)) >= 3
        monkeypatch.setenv("MOTIFLENS_STORE", store_url)
        monkeypatch.setenv("JOB_COMPLETION_INDEX", "0")
        assert worker.main(["--sweep-id", sweep.sweep_id]) == 0
        assert sweep.jobs()[0].state == "CANCELLED" and sweep.jobs()[0].model_id == ""
        # Bad indices and sweeps: exit 2, which the Job's podFailurePolicy turns into FailIndex.
        assert worker.main(["--sweep-id", sweep.sweep_id, "--index", "3"]) == 2
        assert worker.main(["--sweep-id", "sweep-" + "0" * 32, "--index", "0"]) == 2
        monkeypatch.delenv("JOB_COMPLETION_INDEX")
        with pytest.raises(SystemExit) as exit_:
            worker.main(["--sweep-id", sweep.sweep_id])
        assert exit_.value.code == 2

        # gpu without a GPU image; a Job the API server refuses.
        with pytest.raises(FailedPrecondition, match="MOTIFLENS_SWEEP_GPU_IMAGE"):
            client.sweep(dataset_id, **grid, gpu=True)
        cluster.refuse = FailedPreconditionError("Kubernetes API error creating Job: 403 Forbidden")
        before = {s.sweep_id for s in client.list_sweeps()}
        with pytest.raises(FailedPrecondition, match="403 Forbidden"):
            client.sweep(dataset_id, **grid)
        (refused,) = [s for s in client.list_sweeps() if s.sweep_id not in before]
        assert refused.state == "FAILED" and refused.failed == 3
        assert refused.error.startswith("could not create the Kubernetes Job")
        # Nothing is left PENDING that no pod will run.
        assert all(job.state != "PENDING" for job in client.list_jobs())


# --------------------------------------------------------------------------- CLI


def test_cli_sweep_start_wait_get_list(tmp_path):
    with trainer((tmp_path / "store").as_uri(), concurrency=2) as running:
        address = running.client.address
        dataset_id = dataset(running.client)
        start = ("--address", address, "sweep", "start", dataset_id, "--architectures")
        run = run_cli(
            *start,
            "cnn_2",
            "--activations",
            "relu,scaled_exponential:scale=0.5",
            "--epochs",
            "1",
            "--name",
            "cli",
            "--wait",
            "--json",
        )
        assert run.code == 0, run.err
        info = json.loads(run.out)
        assert (info["state"], info["succeeded"], len(info["job_ids"])) == ("SUCCEEDED", 2, 2)
        run = run_cli("--address", address, "sweep", "get", info["sweep_id"], "--jobs")
        assert run.code == 0, run.err
        assert "2: 0 pending, 0 running, 2 succeeded, 0 failed, 0 cancelled" in run.out
        assert "cli/cnn_2/scaled_exponential(scale=0.5)/glorot_uniform/seed0" in run.out
        run = run_cli("--address", address, "sweep", "list")
        assert run.code == 0 and info["sweep_id"] in run.out and "SUCCEEDED" in run.out
        # Usage and server errors: exit 2 and 3, one line each.
        run = run_cli(*start, "cnn_2", "--activations", ":x=1")
        assert run.code == 2 and "expected NAME or NAME:PARAM=NUMBER" in run.err
        run = run_cli(*start, "cnn_2,cnn_2", "--activations", "relu")
        assert run.code == 3
        expected = f"architectures: each value once; repeated: 'cnn_2' (trainer at {address})"
        assert run.error_line().endswith(expected)
        run = run_cli("--address", address, "sweep", "wait", "sweep-" + "0" * 32)
        assert run.code == 3 and "NOT_FOUND" in run.error_line()


def test_a_preempted_sweep_pod_resumes_its_job_from_the_checkpoint(s3_server, tmp_path):
    """A pod killed mid-job (preemption, node loss) leaves its job RUNNING; the pod Kubernetes
    starts next for the same index resumes it from its last checkpoint and counts the resume."""
    from tests.service.test_job_resilience import has_checkpoint, running_with_epochs, wait_for

    store_url = deployed_store_url(s3_server)
    store = open_store(store_url)
    cluster = RecordingCluster()
    epochs = 12
    with trainer(store_url, cluster=cluster) as running:
        dataset_id = dataset(running.client)
        sweep = running.client.sweep(
            dataset_id,
            architectures=["cnn_2"],
            activations=["exponential"],
            seeds=[5],
            epochs=epochs,
            patience=-1,
        )
        (manifest,) = cluster.manifests.values()
        (container,) = manifest["spec"]["template"]["spec"]["containers"]
        command = [sys.executable, *(container["command"] + container.get("args", []))[1:]]
        env = {**os.environ, **pod_env(manifest, 0, store_url, tmp_path)}
        (job_id,) = [job.job_id for job in sweep.jobs()]

        first = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            seen = wait_for(lambda: running_with_epochs(store, job_id, epochs=2), timeout=180)
            assert seen, store.get_record(worker.JOBS_NAMESPACE, job_id)
            assert seen["worker"]["pid"] == first.pid and int(seen.get("resumes") or 0) == 0
        finally:
            first.kill()  # SIGKILL: nothing is recorded, the job stays RUNNING
            first.wait(timeout=30)
        assert store.get_record(worker.JOBS_NAMESPACE, job_id)["state"] == "RUNNING"

        run_pods(manifest, [0], store_url, tmp_path)  # the replacement pod
        cluster.statuses[sweep.sweep_id] = {
            "succeeded": 1,
            "completedIndexes": "0",
            "conditions": [{"type": "Complete", "status": "True"}],
        }
        (job,) = sweep.jobs()
        record = store.get_record(worker.JOBS_NAMESPACE, job_id)
        assert job.state == "SUCCEEDED", job.error
        assert (job.resumes, record["resumes"]) == (1, 1)
        assert seen["epochs_done"] <= job.resumed_from_epoch < epochs
        assert f"pid {first.pid}" in record["last_interruption"]
        events = store.get_record(worker.EVENTS_NAMESPACE, job_id)["events"]
        assert [e["epoch"] for e in events] == list(range(1, epochs + 1))  # every epoch once
        k = job.resumed_from_epoch
        # The epoch after the resume continued from the checkpointed weights, not from scratch.
        assert events[k]["loss"] < events[0]["loss"] - 0.02, [round(e["loss"], 4) for e in events]
        assert not has_checkpoint(store, job_id)
