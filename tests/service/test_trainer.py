"""TrainerService over a real loopback server: data sets, training jobs in worker processes, models.

Every call goes through a channel to a server built by ``create_server``, so the
error interceptor maps the core's exceptions to the status codes asserted here.
Training uses cnn_local on a 600-sequence Task 1 (2 epochs, seconds on a CPU); each
server's first job pays for a spawned worker importing TensorFlow.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
import h5py
import numpy as np
import pytest
from motiflens_client.api import pb, trainer_pb2, trainer_pb2_grpc

from motiflens.evaluation import classification_metrics
from motiflens.models import ModelConfig, load_model
from motiflens.sequences import Dataset, Split, decode, save_hdf5
from motiflens.synthetic import make_task1
from motiflens.training import EpochEvent, TrainConfig
from services.common.config import JobSettings, Settings
from services.common.convert import array_to_tensor
from services.common.metrics import ServiceMetrics
from services.common.store import ArtifactStore, new_id, open_store, utc_now
from services.trainer.datasets import clear_dataset_cache, create_synthetic, load_dataset
from services.trainer.jobs import (
    CANCELS_NAMESPACE,
    EVENTS_NAMESPACE,
    INTERRUPTED_ERROR,
    JOBS_NAMESPACE,
    SHUTDOWN_NOTE,
    TRAINERS_NAMESPACE,
    WORKER_DIED,
    JobManager,
)
from services.trainer.servicer import SERVICE_NAME, TrainerServicer
from services.trainer.worker import JobAbandoned, _StoreReporter, run_training_job
from tests.service.helpers import make_settings, rpc_error, running_server

pytestmark = pytest.mark.timeout(240)

UNKNOWN_DATASET = "ds-" + "0" * 32
UNKNOWN_JOB = "job-" + "0" * 32
MALFORMED_ID = "../../etc"
RPC_TIMEOUT = 30.0
WATCH_TIMEOUT = 180.0
CNN_LOCAL_EXP = pb.ModelSpec(architecture="cnn_local", activation="exponential", seed=1)


@dataclass
class Trainer:
    """A running trainer: its stub, job manager, store and metrics."""

    stub: trainer_pb2_grpc.TrainerServiceStub
    jobs: JobManager
    store: ArtifactStore
    metrics: ServiceMetrics
    channel: grpc.Channel | None = None


@contextlib.contextmanager
def trainer_server(
    store_url: str, settings: JobSettings | None = None, *, server_settings: Settings | None = None
) -> Iterator[Trainer]:
    """Start a TrainerService on loopback port 0 over the store at ``store_url``; close it after.

    ``server_settings`` default: :func:`make_settings` for the trainer.
    """
    store = open_store(store_url)
    metrics = ServiceMetrics()
    jobs = JobManager(store_url, settings or JobSettings(), store=store, metrics=metrics)
    servicer = TrainerServicer(store, jobs)
    try:
        with running_server(
            servicer.register,
            service_name=SERVICE_NAME,
            settings=server_settings or make_settings("trainer"),
            store=store,
            metrics=metrics,
        ) as running:
            channel = running.channel()
            yield Trainer(trainer_pb2_grpc.TrainerServiceStub(channel), jobs, store, metrics, channel)
    finally:
        jobs.close()


@pytest.fixture(scope="module")
def trainer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trainer]:
    """One trainer for the module, over a file store (concurrency 1, queue 16)."""
    with trainer_server((tmp_path_factory.mktemp("trainer") / "store").as_uri()) as running:
        yield running


@pytest.fixture(scope="module")
def task1_id(trainer: Trainer) -> str:
    """A 600-sequence Task 1 in the module trainer's store."""
    request = pb.CreateDatasetRequest(
        name="task1-small", synthetic=pb.SyntheticSpec(task=trainer_pb2.SYNTHETIC_TASK_1, num_sequences=600)
    )
    return trainer.stub.CreateDataset(request, timeout=RPC_TIMEOUT).dataset.dataset_id


def create_task1(stub, num_sequences: int = 600) -> pb.DatasetInfo:
    request = pb.CreateDatasetRequest(
        name="task1-small",
        synthetic=pb.SyntheticSpec(task=trainer_pb2.SYNTHETIC_TASK_1, num_sequences=num_sequences),
    )
    return stub.CreateDataset(request, timeout=RPC_TIMEOUT).dataset


def gauge(metrics: ServiceMetrics, state: str) -> float:
    return metrics.registry.get_sample_value("motiflens_jobs", {"state": state}) or 0.0


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def fasta_text(sequences: list[str]) -> str:
    return "".join(f">seq{i}\n{sequence}\n" for i, sequence in enumerate(sequences))


def random_sequences(count: int, length: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), size=length)) for _ in range(count)]


# --------------------------------------------------------------------------- main flow


def test_main_flow_dataset_train_watch_model(store_url: str, tmp_path: Path):
    with trainer_server(store_url) as trainer:
        stub = trainer.stub
        created = create_task1(stub)
        dataset = stub.GetDataset(
            pb.GetDatasetRequest(dataset_id=created.dataset_id), timeout=RPC_TIMEOUT
        ).dataset
        assert dataset.dataset_id.startswith("ds-")
        assert (dataset.num_train, dataset.num_valid, dataset.num_test) == (420, 60, 120)
        assert (dataset.sequence_length, dataset.num_targets) == (200, 12)
        assert dataset.has_ground_truth and dataset.kind == "task1" and dataset.name == "task1-small"
        assert list(dataset.label_names)[:3] == ["Arid3a", "CEBPB", "FOSL1"]
        assert dataset.created_at.endswith("Z")
        listed = stub.ListDatasets(pb.ListDatasetsRequest(), timeout=RPC_TIMEOUT).datasets
        assert [d.dataset_id for d in listed] == [dataset.dataset_id]

        reply = stub.Train(
            pb.TrainRequest(
                dataset_id=dataset.dataset_id,
                model=CNN_LOCAL_EXP,
                training=pb.TrainingSpec(epochs=2),
                name="local-exp",
            ),
            timeout=RPC_TIMEOUT,
        )
        assert reply.job_id.startswith("job-") and reply.state == trainer_pb2.JOB_STATE_PENDING

        events = list(stub.WatchJob(pb.WatchJobRequest(job_id=reply.job_id), timeout=WATCH_TIMEOUT))
        epochs = [e.epoch for e in events if e.WhichOneof("payload") == "epoch"]
        assert [e.epoch for e in epochs] == [1, 2]
        assert all(math.isfinite(e.loss) and math.isfinite(e.val_loss) and e.seconds > 0 for e in epochs)
        assert all(e.state == trainer_pb2.JOB_STATE_RUNNING for e in events[:-1])
        final = events[-1]
        assert final.WhichOneof("payload") == "final"
        job = final.final
        assert final.state == job.state == trainer_pb2.JOB_STATE_SUCCEEDED, job.error
        assert job.epochs_done == 2 and job.model_id.startswith("model-") and job.error == ""
        assert job.model.architecture == "cnn_local" and job.model.activation == "exponential"
        assert job.model.initializer == "glorot_uniform" and job.model.seed == 1
        assert (job.training.epochs, job.training.batch_size, job.training.patience) == (2, 100, 20)
        assert job.started_at and job.finished_at and job.name == "local-exp"
        assert 0.0 <= job.test_metrics.auroc <= 1.0 and len(job.test_metrics.auroc_per_class) == 12
        assert math.isfinite(job.test_metrics.loss)
        assert stub.GetJob(pb.GetJobRequest(job_id=reply.job_id), timeout=RPC_TIMEOUT).job == job
        # Watching a finished job replays its epochs and the final state.
        replay = list(stub.WatchJob(pb.WatchJobRequest(job_id=reply.job_id), timeout=RPC_TIMEOUT))
        assert replay == events
        # Cancelling a finished job leaves it unchanged.
        assert stub.CancelJob(pb.CancelJobRequest(job_id=reply.job_id), timeout=RPC_TIMEOUT).job == job

        models = stub.ListModels(
            pb.ListModelsRequest(dataset_id=dataset.dataset_id), timeout=RPC_TIMEOUT
        ).models
        assert [m.model_id for m in models] == [job.model_id]
        model = models[0]
        assert (model.job_id, model.dataset_id, model.name) == (job.job_id, dataset.dataset_id, "local-exp")
        assert (model.input_length, model.num_outputs) == (200, 12)
        assert model.model == job.model and model.test_metrics == job.test_metrics
        assert [m.model_id for m in stub.ListModels(pb.ListModelsRequest(), timeout=RPC_TIMEOUT).models] == [
            job.model_id
        ]

        # The artifact reloads with the core and reproduces the recorded test AUROC.
        manifest = trainer.store.fetch_artifact(job.model_id, tmp_path / "model")
        assert set(manifest.objects) == {
            "model.keras",
            "model_config.json",
            "train_config.json",
            "history.json",
            "metrics.json",
        }
        assert manifest.provenance["dataset_id"] == dataset.dataset_id and manifest.provenance["seed"] == 1
        loaded = load_model(tmp_path / "model")
        test = load_dataset(trainer.store, dataset.dataset_id)[0].test
        scores = loaded.predict(test.X, batch_size=256, verbose=0)
        assert classification_metrics(test.y, scores)["auroc"] == pytest.approx(
            job.test_metrics.auroc, abs=1e-6
        )

        assert wait_for(lambda: gauge(trainer.metrics, "SUCCEEDED") == 1.0)
        assert gauge(trainer.metrics, "RUNNING") == 0.0
        jobs = stub.ListJobs(pb.ListJobsRequest(), timeout=RPC_TIMEOUT).jobs
        assert [j.job_id for j in jobs] == [job.job_id]


# --------------------------------------------------------------------------- cancellation and the queue


def test_cancel_queued_and_running_jobs(trainer: Trainer, task1_id: str):
    stub = trainer.stub
    long_run = pb.TrainingSpec(epochs=500, patience=-1, batch_size=50)
    running = stub.Train(
        pb.TrainRequest(dataset_id=task1_id, model=CNN_LOCAL_EXP, training=long_run), timeout=RPC_TIMEOUT
    )
    queued = stub.Train(
        pb.TrainRequest(dataset_id=task1_id, model=CNN_LOCAL_EXP, training=long_run), timeout=RPC_TIMEOUT
    )
    # Concurrency 1: the second job waits in the queue and is cancelled at once.
    cancelled = stub.CancelJob(pb.CancelJobRequest(job_id=queued.job_id), timeout=RPC_TIMEOUT).job
    assert cancelled.state == trainer_pb2.JOB_STATE_CANCELLED and "before it started" in cancelled.error
    assert cancelled.epochs_done == 0 and cancelled.finished_at
    final = list(stub.WatchJob(pb.WatchJobRequest(job_id=queued.job_id), timeout=RPC_TIMEOUT))
    assert len(final) == 1 and final[0].final.state == trainer_pb2.JOB_STATE_CANCELLED

    # A watch with a short deadline ends with DEADLINE_EXCEEDED while the job runs on.
    error = rpc_error(stub.WatchJob, pb.WatchJobRequest(job_id=running.job_id), timeout=0.5)
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    stream = stub.WatchJob(pb.WatchJobRequest(job_id=running.job_id), timeout=WATCH_TIMEOUT)
    first = next(stream)
    assert first.WhichOneof("payload") == "epoch" and first.epoch.epoch == 1
    reply = stub.CancelJob(pb.CancelJobRequest(job_id=running.job_id), timeout=RPC_TIMEOUT).job
    assert reply.state == trainer_pb2.JOB_STATE_RUNNING  # stops after the current epoch
    rest = list(stream)
    final = rest[-1].final
    assert final.state == trainer_pb2.JOB_STATE_CANCELLED and "cancelled by request" in final.error
    assert 1 <= final.epochs_done < 500 and final.model_id == ""
    assert [e.epoch.epoch for e in [first, *rest[:-1]]] == list(range(1, final.epochs_done + 1))
    models = stub.ListModels(pb.ListModelsRequest(dataset_id=task1_id), timeout=RPC_TIMEOUT).models
    assert running.job_id not in [m.job_id for m in models]
    assert wait_for(lambda: gauge(trainer.metrics, "CANCELLED") == 2.0)


def test_worker_crash_resumes_job_and_pool_recovers(trainer: Trainer, task1_id: str):
    stub = trainer.stub
    doomed = stub.Train(
        pb.TrainRequest(
            dataset_id=task1_id, model=CNN_LOCAL_EXP, training=pb.TrainingSpec(epochs=500, patience=-1)
        ),
        timeout=RPC_TIMEOUT,
    )
    stream = stub.WatchJob(pb.WatchJobRequest(job_id=doomed.job_id), timeout=WATCH_TIMEOUT)
    first = next(stream)
    assert first.WhichOneof("payload") == "epoch"
    worker = trainer.store.get_record(JOBS_NAMESPACE, doomed.job_id)["worker"]
    assert worker["pid"] != os.getpid()
    os.kill(worker["pid"], signal.SIGKILL)  # the worker process this trainer started for the job

    # The job is re-queued and a new worker process resumes it from its last checkpoint.
    def resumed() -> dict | None:
        record = trainer.store.get_record(JOBS_NAMESPACE, doomed.job_id)
        return record if (record.get("worker") or {}).get("pid") not in (None, worker["pid"]) else None

    record = wait_for(resumed, timeout=120)
    assert record and record["resumes"] == 1 and record["last_interruption"] == WORKER_DIED
    assert record["resumed_from_epoch"] >= 1
    stub.CancelJob(pb.CancelJobRequest(job_id=doomed.job_id), timeout=RPC_TIMEOUT)
    rest = list(stream)
    final = rest[-1].final
    assert final.state == trainer_pb2.JOB_STATE_CANCELLED, final.error
    # The stream spanned both workers and saw every epoch exactly once.
    epochs = [e.epoch.epoch for e in [first, *rest[:-1]]]
    assert epochs == list(range(1, final.epochs_done + 1))
    assert final.epochs_done > record["resumed_from_epoch"]
    # The manager replaces the broken pool: the next job trains normally.
    after = stub.Train(
        pb.TrainRequest(dataset_id=task1_id, model=CNN_LOCAL_EXP, training=pb.TrainingSpec(epochs=1)),
        timeout=RPC_TIMEOUT,
    )
    events = list(stub.WatchJob(pb.WatchJobRequest(job_id=after.job_id), timeout=WATCH_TIMEOUT))
    assert events[-1].final.state == trainer_pb2.JOB_STATE_SUCCEEDED, events[-1].final.error


def test_queue_limit_gives_resource_exhausted(tmp_path: Path):
    with trainer_server((tmp_path / "store").as_uri(), JobSettings(concurrency=1, queue_limit=1)) as trainer:
        dataset = create_task1(trainer.stub, num_sequences=100)
        request = pb.TrainRequest(
            dataset_id=dataset.dataset_id, model=CNN_LOCAL_EXP, training=pb.TrainingSpec(epochs=500)
        )
        first = trainer.stub.Train(request, timeout=RPC_TIMEOUT)
        error = rpc_error(trainer.stub.Train, request, timeout=RPC_TIMEOUT)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "the limit is 1" in error.details() and "MOTIFLENS_TRAINER_QUEUE" in error.details()
        store = trainer.store
    # Closing the trainer stops its worker; the unfinished job is left PENDING for the next
    # trainer to resume (its owner's heartbeat says stopped), not RUNNING.
    record = store.get_record(JOBS_NAMESPACE, first.job_id)
    assert record["state"] == "PENDING" and record["last_interruption"] == SHUTDOWN_NOTE
    assert record["error"] == "" and record["worker"] is None
    assert store.get_record(TRAINERS_NAMESPACE, record["owner"])["stopped"] is True


# --------------------------------------------------------------------------- restart


def job_record(job_id: str, state: str, dataset_id: str, owner: str | None, *, epochs: int = 3) -> dict:
    config = ModelConfig(architecture="cnn_local", input_length=200, num_outputs=12)
    return {
        "job_id": job_id,
        "state": state,
        "dataset_id": dataset_id,
        "name": "",
        "model_config": asdict(config),
        "train_config": asdict(TrainConfig(epochs=epochs)),
        "epochs_done": 1 if state == "RUNNING" else 0,
        "model_id": "",
        "test_metrics": None,
        "error": "",
        "created_at": utc_now(),
        "created_time": time.time(),
        "started_at": utc_now() if state == "RUNNING" else "",
        "finished_at": "",
        "owner": owner,
    }


def test_restart_adopts_and_resumes_interrupted_jobs(store_url: str):
    store = open_store(store_url)
    dataset_id = create_synthetic(store, "task1", num_sequences=100).dataset_id
    crashed = {
        "running": job_record(new_id("job"), "RUNNING", dataset_id, new_id("trainer"), epochs=1),
        "pending": job_record(new_id("job"), "PENDING", dataset_id, None, epochs=1),
        # Interrupted three times already: one more would pass the limit of 3 resumes.
        "capped": {**job_record(new_id("job"), "RUNNING", dataset_id, new_id("trainer")), "resumes": 3},
    }
    for record in crashed.values():
        store.put_record(JOBS_NAMESPACE, record["job_id"], record)
    # A job of another replica that is alive (fresh heartbeat) is left alone.
    replica = new_id("trainer")
    store.put_record(TRAINERS_NAMESPACE, replica, {"manager_id": replica, "heartbeat_time": time.time()})
    alive = job_record(new_id("job"), "RUNNING", dataset_id, replica)
    store.put_record(JOBS_NAMESPACE, alive["job_id"], alive)

    with trainer_server(store_url) as trainer:
        stub = trainer.stub
        for key in ("running", "pending"):  # adopted by the new trainer and trained to the end
            job_id = crashed[key]["job_id"]
            events = list(stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=WATCH_TIMEOUT))
            assert events[-1].final.state == trainer_pb2.JOB_STATE_SUCCEEDED, events[-1].final.error
            assert [e.epoch.epoch for e in events[:-1]] == [1]
            record = store.get_record(JOBS_NAMESPACE, job_id)
            assert record["owner"] == trainer.jobs.manager_id
            # Only a job that was running counts a resume (it had no checkpoint: epoch 0).
            assert record["resumes"] == (1 if key == "running" else 0)
        record = store.get_record(JOBS_NAMESPACE, crashed["running"]["job_id"])
        assert record["resumed_from_epoch"] == 0 and record["last_interruption"] == INTERRUPTED_ERROR
        capped = stub.GetJob(pb.GetJobRequest(job_id=crashed["capped"]["job_id"]), timeout=RPC_TIMEOUT).job
        assert capped.state == trainer_pb2.JOB_STATE_FAILED and capped.finished_at
        assert capped.error == (
            f"{INTERRUPTED_ERROR}; gave up after 3 resume(s) (the limit is 3, "
            "MOTIFLENS_TRAINER_MAX_RESUMES); start a new job"
        )
        job = stub.GetJob(pb.GetJobRequest(job_id=alive["job_id"]), timeout=RPC_TIMEOUT).job
        assert job.state == trainer_pb2.JOB_STATE_RUNNING and job.epochs_done == 1
        assert wait_for(lambda: gauge(trainer.metrics, "SUCCEEDED") == 2.0)
        assert gauge(trainer.metrics, "FAILED") == 1.0 and gauge(trainer.metrics, "RUNNING") == 1.0


# --------------------------------------------------------------------------- the worker entrypoint


def test_run_training_job_in_this_process(tmp_path: Path):
    # The entrypoint a Kubernetes Job will call: no pool, no manager, just the store.
    store_url = (tmp_path / "store").as_uri()
    store = open_store(store_url)
    dataset = create_synthetic(store, "task1", num_sequences=100)
    record = job_record(new_id("job"), "PENDING", dataset.dataset_id, None, epochs=1)
    store.put_record(JOBS_NAMESPACE, record["job_id"], record)
    run_training_job(store_url, record["job_id"])
    done = store.get_record(JOBS_NAMESPACE, record["job_id"])
    assert done["state"] == "SUCCEEDED" and done["epochs_done"] == 1 and done["worker"]["pid"] == os.getpid()
    assert store.get_manifest(done["model_id"], kind="model").metadata["job_id"] == record["job_id"]
    assert [e["epoch"] for e in store.get_record(EVENTS_NAMESPACE, record["job_id"])["events"]] == [1]

    cancelled = job_record(new_id("job"), "PENDING", dataset.dataset_id, None, epochs=1)
    store.put_record(JOBS_NAMESPACE, cancelled["job_id"], cancelled)
    store.put_record(CANCELS_NAMESPACE, cancelled["job_id"], {"job_id": cancelled["job_id"]})
    run_training_job(store_url, cancelled["job_id"])
    after = store.get_record(JOBS_NAMESPACE, cancelled["job_id"])
    assert after["state"] == "CANCELLED" and after["epochs_done"] == 0 and after["model_id"] == ""


def test_worker_reporter_cancel_and_abandon(tmp_path: Path):
    store = open_store((tmp_path / "store").as_uri())
    record = job_record(new_id("job"), "RUNNING", new_id("ds"), None)
    job_id = record["job_id"]
    store.put_record(JOBS_NAMESPACE, job_id, record)
    reporter = _StoreReporter(store, dict(record))

    def event(epoch: int) -> EpochEvent:
        return EpochEvent(epoch, 0.5, 0.6, 0.7, 0.3, "aupr", 1e-3, True, 0.1)

    reporter.on_epoch_end(event(1))
    assert not reporter.stop_requested and store.get_record(JOBS_NAMESPACE, job_id)["epochs_done"] == 1
    store.put_record(CANCELS_NAMESPACE, job_id, {"job_id": job_id})
    reporter.on_epoch_end(event(2))
    assert reporter.stop_requested and reporter.cancelled
    assert len(store.get_record(EVENTS_NAMESPACE, job_id)["events"]) == 2
    # Marked FAILED behind the worker's back (orphan sweep): it stops and leaves the record alone.
    store.put_record(JOBS_NAMESPACE, job_id, {**record, "state": "FAILED", "error": INTERRUPTED_ERROR})
    with pytest.raises(JobAbandoned):
        reporter.on_epoch_end(event(3))
    assert store.get_record(JOBS_NAMESPACE, job_id)["state"] == "FAILED"
    assert len(store.get_record(EVENTS_NAMESPACE, job_id)["events"]) == 2


# --------------------------------------------------------------------------- imports


def write_dataset(path: Path, *, n: int = 20, length: int = 40, targets: int = 3, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)

    def split(count: int) -> Split:
        X = np.eye(4, dtype=np.float32)[rng.integers(0, 4, size=(count, length))]
        return Split(X=X, y=(rng.random((count, targets)) > 0.5).astype(np.float32))

    save_hdf5(path, Dataset(train=split(n), valid=split(n // 2), test=split(n // 4)))
    return path


def test_hdf5_import_sizes_and_reverse_complement(trainer: Trainer, tmp_path: Path):
    content = write_dataset(tmp_path / "small.h5").read_bytes()
    plain = trainer.stub.CreateDataset(
        pb.CreateDatasetRequest(name="small", hdf5=pb.Hdf5Import(content=content)), timeout=RPC_TIMEOUT
    ).dataset
    assert (plain.kind, plain.num_train, plain.num_valid, plain.num_test) == ("hdf5", 20, 10, 5)
    assert (plain.sequence_length, plain.num_targets, plain.has_ground_truth) == (40, 3, False)
    augmented = trainer.stub.CreateDataset(
        pb.CreateDatasetRequest(hdf5=pb.Hdf5Import(content=content, reverse_complement=True)),
        timeout=RPC_TIMEOUT,
    ).dataset
    assert (augmented.num_train, augmented.num_valid, augmented.num_test) == (40, 10, 5)
    stored, task = load_dataset(trainer.store, augmented.dataset_id)
    assert task is None
    np.testing.assert_array_equal(stored.train.X[20:], stored.train.X[:20, ::-1, ::-1])


def test_hdf5_import_keeps_synthetic_ground_truth(trainer: Trainer, tmp_path: Path):
    make_task1(100, seed=3).save(tmp_path / "task1.h5")
    info = trainer.stub.CreateDataset(
        pb.CreateDatasetRequest(hdf5=pb.Hdf5Import(content=(tmp_path / "task1.h5").read_bytes())),
        timeout=RPC_TIMEOUT,
    ).dataset
    assert (info.num_train, info.num_valid, info.num_test, info.num_targets) == (70, 10, 20, 12)
    assert info.has_ground_truth and len(info.label_names) == 12 and info.seed == 3
    clear_dataset_cache()
    dataset, task = load_dataset(trainer.store, info.dataset_id)
    assert task is not None and task.implants["test"].shape[1] == 4 and dataset.test.model is not None


def test_hdf5_import_irf1(trainer: Trainer, irf1_path: Path):
    info = trainer.stub.CreateDataset(
        pb.CreateDatasetRequest(name="IRF1", hdf5=pb.Hdf5Import(content=irf1_path.read_bytes())),
        timeout=RPC_TIMEOUT,
    ).dataset
    assert (info.num_train, info.num_valid, info.num_test) == (2724, 389, 779)
    assert (info.sequence_length, info.num_targets, info.has_ground_truth) == (400, 1, False)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"not an HDF5 file at all", "hdf5.content: not a readable HDF5 file"),
        (b"", "hdf5.content: empty"),
        (None, "missing key 'Y_train'"),
    ],
    ids=["garbage", "empty", "missing-key"],
)
def test_hdf5_import_malformed_is_invalid_argument(trainer: Trainer, tmp_path: Path, content, expected):
    if content is None:
        with h5py.File(tmp_path / "partial.h5", "w") as handle:
            handle.create_dataset("X_train", data=np.zeros((2, 4, 10), np.float32))
        content = (tmp_path / "partial.h5").read_bytes()
    error = rpc_error(
        trainer.stub.CreateDataset,
        pb.CreateDatasetRequest(hdf5=pb.Hdf5Import(content=content)),
        timeout=RPC_TIMEOUT,
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in error.details() and str(tmp_path) not in error.details()


def fasta_request(sequences: list[str], labels: np.ndarray, **kwargs) -> pb.CreateDatasetRequest:
    return pb.CreateDatasetRequest(
        fasta=pb.FastaImport(fasta=fasta_text(sequences), labels=array_to_tensor(labels), **kwargs)
    )


def test_fasta_import_sizes_and_split(trainer: Trainer):
    sequences = random_sequences(50, 30, seed=1)
    labels = (np.arange(100).reshape(50, 2) % 3 == 0).astype(np.float32)
    info = trainer.stub.CreateDataset(fasta_request(sequences, labels, seed=7), timeout=RPC_TIMEOUT).dataset
    assert (info.kind, info.num_train, info.num_valid, info.num_test) == ("fasta", 35, 5, 10)
    assert (info.sequence_length, info.num_targets, info.seed) == (30, 2, 7)
    dataset, _ = load_dataset(trainer.store, info.dataset_id)
    rows = {seq: i for i, seq in enumerate(sequences)}
    split_rows = {
        name: [rows[s] for s in decode(dataset.split(name).X)] for name in ("train", "valid", "test")
    }
    # Every record lands in exactly one split, with its own labels.
    assert sorted(sum(split_rows.values(), [])) == list(range(50))
    for name, indices in split_rows.items():
        np.testing.assert_array_equal(dataset.split(name).y, labels[indices])
    # Same seed, same split; another seed, another split; reverse complements double train.
    again = trainer.stub.CreateDataset(fasta_request(sequences, labels, seed=7), timeout=RPC_TIMEOUT).dataset
    np.testing.assert_array_equal(load_dataset(trainer.store, again.dataset_id)[0].test.X, dataset.test.X)
    other = trainer.stub.CreateDataset(
        fasta_request(sequences, labels.astype(np.int8), seed=8, reverse_complement=True), timeout=RPC_TIMEOUT
    ).dataset
    assert (other.num_train, other.num_valid, other.num_test) == (70, 5, 10)
    assert not np.array_equal(load_dataset(trainer.store, other.dataset_id)[0].test.X, dataset.test.X)


def test_fasta_bad_base_names_record_and_line(trainer: Trainer):
    sequences = random_sequences(12, 20)
    sequences[3] = sequences[3][:5] + "X" + sequences[3][6:]
    error = rpc_error(
        trainer.stub.CreateDataset,
        fasta_request(sequences, np.zeros((12, 1), np.float32)),
        timeout=RPC_TIMEOUT,
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "fasta:8" in error.details() and "'seq3'" in error.details() and "'X'" in error.details()


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (np.zeros((11, 1), np.float32), "fasta.labels: expected 12 rows"),
        (np.full((12, 1), 2.0, np.float32), "fasta.labels: expected finite values in [0, 1]"),
        (np.zeros((12, 1), np.float64), "fasta.labels.dtype"),
    ],
    ids=["wrong-n", "not-binary", "float64"],
)
def test_fasta_bad_labels_are_invalid_argument(trainer: Trainer, labels: np.ndarray, expected: str):
    error = rpc_error(
        trainer.stub.CreateDataset, fasta_request(random_sequences(12, 20), labels), timeout=RPC_TIMEOUT
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in error.details()


# --------------------------------------------------------------------------- bad inputs


def test_create_dataset_bad_requests(trainer: Trainer):
    cases = {
        "source: unset": pb.CreateDatasetRequest(name="nothing"),
        "synthetic.task: expected SYNTHETIC_TASK_1 or SYNTHETIC_TASK_3, got SYNTHETIC_TASK_UNSPECIFIED": (
            pb.CreateDatasetRequest(synthetic=pb.SyntheticSpec(num_sequences=100))
        ),
        "synthetic.seed: expected a non-negative integer": pb.CreateDatasetRequest(
            synthetic=pb.SyntheticSpec(task=trainer_pb2.SYNTHETIC_TASK_1, num_sequences=100, seed=-1)
        ),
        "synthetic.sequence_length: expected >= 80": pb.CreateDatasetRequest(
            synthetic=pb.SyntheticSpec(
                task=trainer_pb2.SYNTHETIC_TASK_1, num_sequences=100, sequence_length=50
            )
        ),
    }
    for expected, request in cases.items():
        error = rpc_error(trainer.stub.CreateDataset, request, timeout=RPC_TIMEOUT)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, expected
        assert expected in error.details()
    too_big = pb.CreateDatasetRequest(
        synthetic=pb.SyntheticSpec(task=trainer_pb2.SYNTHETIC_TASK_3, num_sequences=10**9)
    )
    error = rpc_error(trainer.stub.CreateDataset, too_big, timeout=RPC_TIMEOUT)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "exceeds the limit of 40,000,000 bases" in error.details()


def test_hdf5_import_too_large_when_expanded(trainer: Trainer, tmp_path: Path):
    # 2 x 10^9 zeros compress to a few MB but would take 8 GiB as float32.
    with h5py.File(tmp_path / "bomb.h5", "w") as handle:
        handle.create_dataset(
            "X_train", shape=(500_000, 4, 1000), dtype="f4", compression="gzip", chunks=True
        )
    error = rpc_error(
        trainer.stub.CreateDataset,
        pb.CreateDatasetRequest(hdf5=pb.Hdf5Import(content=(tmp_path / "bomb.h5").read_bytes())),
        timeout=RPC_TIMEOUT,
    )
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "hdf5.content: the arrays take 7.5 GiB" in error.details()


@pytest.mark.parametrize(
    ("model", "training", "expected"),
    [
        (
            pb.ModelSpec(architecture="cnn_huge"),
            None,
            ["model.architecture: unknown name 'cnn_huge'", "cnn_local"],
        ),
        (pb.ModelSpec(architecture=""), None, ["model.architecture: unknown name ''", "residualbind"]),
        (
            pb.ModelSpec(architecture="cnn_local", activation="expo"),
            None,
            ["model.activation: unknown name 'expo'", "exponential", "relu"],
        ),
        (
            pb.ModelSpec(architecture="cnn_local", initializer="zeros"),
            None,
            ["model.initializer: unknown name 'zeros'", "he_normal"],
        ),
        (
            pb.ModelSpec(architecture="cnn_local", activation="relu", activation_params={"scale": 2.0}),
            None,
            ["model.activation_params", "takes no parameter scale"],
        ),
        (pb.ModelSpec(architecture="cnn_local", seed=-1), None, ["model.seed"]),
        (
            pb.ModelSpec(architecture="cnn_local"),
            pb.TrainingSpec(epochs=-2),
            ["training.epochs: expected >= 1"],
        ),
        (
            pb.ModelSpec(architecture="cnn_local"),
            pb.TrainingSpec(lr_decay_factor=1.5),
            ["training.lr_decay_factor"],
        ),
    ],
    ids=["architecture", "no-architecture", "activation", "initializer", "params", "seed", "epochs", "decay"],
)
def test_train_invalid_specs(trainer: Trainer, task1_id: str, model, training, expected: list[str]):
    request = pb.TrainRequest(dataset_id=task1_id, model=model, training=training)
    error = rpc_error(trainer.stub.Train, request, timeout=RPC_TIMEOUT)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    for text in expected:
        assert text in error.details()


def test_train_sequences_too_short_for_architecture(trainer: Trainer):
    short = trainer.stub.CreateDataset(
        fasta_request(random_sequences(20, 30), np.zeros((20, 1), np.float32)), timeout=RPC_TIMEOUT
    ).dataset
    error = rpc_error(
        trainer.stub.Train,
        pb.TrainRequest(dataset_id=short.dataset_id, model=pb.ModelSpec(architecture="cnn_local")),
        timeout=RPC_TIMEOUT,
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "model.input_length: cnn_local pools by 50" in error.details() and "got 30" in error.details()


@pytest.mark.parametrize(
    ("identifier", "code"),
    [(UNKNOWN_DATASET, grpc.StatusCode.NOT_FOUND), (MALFORMED_ID, grpc.StatusCode.INVALID_ARGUMENT)],
    ids=["unknown", "malformed"],
)
def test_dataset_ids_unknown_or_malformed(trainer: Trainer, identifier: str, code: grpc.StatusCode):
    stub = trainer.stub
    calls = [
        (stub.GetDataset, pb.GetDatasetRequest(dataset_id=identifier)),
        (stub.Train, pb.TrainRequest(dataset_id=identifier, model=pb.ModelSpec(architecture="cnn_local"))),
        (stub.ListModels, pb.ListModelsRequest(dataset_id=identifier)),
    ]
    for method, request in calls:
        error = rpc_error(method, request, timeout=RPC_TIMEOUT)
        assert error.code() == code, method
        assert error.details().startswith("dataset_id:")


@pytest.mark.parametrize(
    ("identifier", "code"),
    [
        (UNKNOWN_JOB, grpc.StatusCode.NOT_FOUND),
        (MALFORMED_ID, grpc.StatusCode.INVALID_ARGUMENT),
        ("", grpc.StatusCode.INVALID_ARGUMENT),
        (UNKNOWN_DATASET, grpc.StatusCode.INVALID_ARGUMENT),  # well formed, but not a job id
    ],
    ids=["unknown", "malformed", "empty", "dataset-id"],
)
def test_job_ids_unknown_or_malformed(trainer: Trainer, identifier: str, code: grpc.StatusCode):
    stub = trainer.stub
    for method, request in [
        (stub.GetJob, pb.GetJobRequest(job_id=identifier)),
        (stub.WatchJob, pb.WatchJobRequest(job_id=identifier)),
        (stub.CancelJob, pb.CancelJobRequest(job_id=identifier)),
    ]:
        error = rpc_error(method, request, timeout=RPC_TIMEOUT)
        assert error.code() == code, method
        assert error.details().startswith("job_id:")


def test_job_settings_from_env():
    assert JobSettings.from_env({}) == JobSettings(concurrency=1, queue_limit=16)
    settings = JobSettings.from_env({"MOTIFLENS_TRAINER_CONCURRENCY": "2", "MOTIFLENS_TRAINER_QUEUE": "4"})
    assert (settings.concurrency, settings.queue_limit) == (2, 4)
    with pytest.raises(ValueError, match="MOTIFLENS_TRAINER_QUEUE: expected an integer from 1"):
        JobSettings.from_env({"MOTIFLENS_TRAINER_QUEUE": "0"})
