"""Training jobs survive what breaks around them: corrupt records, killed processes, store outages.

Everything here is real: the gRPC trainer on loopback, its worker processes, the file
store and the loopback S3 server. A killed process is SIGKILLed for real, and an S3
outage is a TCP proxy in front of the S3 server that stops listening and cuts its
connections (the server keeps its data, as MinIO would across a network outage).
Training uses cnn_local on a small Task 1; each trainer's first job pays for a spawned
worker importing TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import grpc
import pytest
from motiflens_client.api import pb, trainer_pb2, trainer_pb2_grpc

from motiflens.errors import NotFoundError
from motiflens.models import ModelConfig
from motiflens.training import TrainConfig
from services.common.config import JobSettings
from services.common.store import ArtifactStore, CorruptRecordError, new_id, open_store, utc_now
from services.trainer.datasets import create_synthetic
from services.trainer.jobs import (
    EVENTS_NAMESPACE,
    INTERRUPTED_ERROR,
    JOBS_NAMESPACE,
    WORKER_DIED,
    JobManager,
)
from services.trainer.servicer import SERVICE_NAME
from services.trainer.worker import CHECKPOINTS_NAMESPACE, WORKER_NICENESS
from tests.service.helpers import make_channel, rpc_error, wait_for_serving
from tests.service.test_trainer import trainer_server

pytestmark = pytest.mark.timeout(420)

ROOT = Path(__file__).resolve().parents[2]
RPC_TIMEOUT = 30.0
WATCH_TIMEOUT = 240.0
MODEL = pb.ModelSpec(architecture="cnn_local", activation="exponential", seed=1)
#: Long enough to be caught mid-run (each epoch takes a fraction of a second), short enough to finish.
LONG = pb.TrainingSpec(epochs=30, patience=-1, batch_size=50)


def create_task1(stub, num_sequences: int = 600) -> str:
    request = pb.CreateDatasetRequest(
        synthetic=pb.SyntheticSpec(task=trainer_pb2.SYNTHETIC_TASK_1, num_sequences=num_sequences)
    )
    return stub.CreateDataset(request, timeout=RPC_TIMEOUT).dataset.dataset_id


def train(stub, dataset_id: str, training: pb.TrainingSpec) -> str:
    request = pb.TrainRequest(dataset_id=dataset_id, model=MODEL, training=training)
    return stub.Train(request, timeout=RPC_TIMEOUT).job_id


def watch_to_end(stub, job_id: str) -> pb.Job:
    events = list(stub.WatchJob(pb.WatchJobRequest(job_id=job_id), timeout=WATCH_TIMEOUT))
    return events[-1].final


def wait_for(predicate, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def record_of(store: ArtifactStore, job_id: str) -> dict:
    return store.get_record(JOBS_NAMESPACE, job_id)


def running_with_epochs(store: ArtifactStore, job_id: str, epochs: int = 1) -> dict | None:
    """The job record once a worker runs it and has finished ``epochs`` epochs, else None."""
    with contextlib.suppress(Exception):
        record = record_of(store, job_id)
        if record["state"] == "RUNNING" and record.get("worker") and record["epochs_done"] >= epochs:
            return record
    return None


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie awaiting its reaper counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def assert_resumed_run(store: ArtifactStore, job: pb.Job, *, epochs: int, resumed_after: int) -> dict:
    """A SUCCEEDED job resumed from a checkpoint of epoch >= ``resumed_after``, every epoch once."""
    assert job.state == trainer_pb2.JOB_STATE_SUCCEEDED, job.error
    record = record_of(store, job.job_id)
    k = record["resumed_from_epoch"]
    assert resumed_after <= k < epochs and resumed_after >= 1
    # The Job message a client reads says so too.
    assert (job.resumes, job.resumed_from_epoch) == (record["resumes"], k) and job.resumes >= 1
    events = store.get_record(EVENTS_NAMESPACE, job.job_id)["events"]
    assert [e["epoch"] for e in events] == list(range(1, epochs + 1)) and job.epochs_done == epochs
    # The epoch after the resume continued from the checkpointed weights: its training loss
    # is well below a fresh model's first-epoch loss (a restart from scratch would repeat it).
    assert events[k]["loss"] < events[0]["loss"] - 0.02, [round(e["loss"], 4) for e in events[: k + 2]]
    assert job.model_id and job.error == ""
    assert wait_for(lambda: not has_checkpoint(store, job.job_id), timeout=10)  # deleted once finished
    return record


def has_checkpoint(store: ArtifactStore, job_id: str) -> bool:
    try:
        store.get_blob(CHECKPOINTS_NAMESPACE, job_id)
    except NotFoundError:
        return False
    return True


def job_record(job_id: str, state: str, dataset_id: str, owner: str, *, epochs: int = 1) -> dict:
    config = ModelConfig(architecture="cnn_local", input_length=200, num_outputs=12, seed=1)
    return {
        "job_id": job_id,
        "state": state,
        "dataset_id": dataset_id,
        "name": "",
        "model_config": asdict(config),
        "train_config": asdict(TrainConfig(epochs=epochs, seed=1)),
        "epochs_done": 0,
        "model_id": "",
        "test_metrics": None,
        "error": "",
        "created_at": utc_now(),
        "created_time": time.time(),
        "started_at": utc_now() if state == "RUNNING" else "",
        "finished_at": "",
        "owner": owner,
        "executor": "local",
    }


def test_retry_and_resume_settings_from_env():
    assert JobSettings.from_env({}) == JobSettings(store_retry_seconds=120, max_resumes=3)
    settings = JobSettings.from_env(
        {"MOTIFLENS_STORE_RETRY_SECONDS": "20", "MOTIFLENS_TRAINER_MAX_RESUMES": "0"}
    )
    assert (settings.store_retry_seconds, settings.max_resumes) == (20.0, 0)
    with pytest.raises(ValueError, match="MOTIFLENS_STORE_RETRY_SECONDS: expected an integer from 0 to 3600"):
        JobSettings.from_env({"MOTIFLENS_STORE_RETRY_SECONDS": "-1"})
    with pytest.raises(ValueError, match="MOTIFLENS_TRAINER_MAX_RESUMES: expected an integer from 0 to 100"):
        JobSettings.from_env({"MOTIFLENS_TRAINER_MAX_RESUMES": "lots"})


# --------------------------------------------------------------------------- 1. a corrupt record


def test_corrupt_job_record_fails_only_that_id(store_url: str):
    store = open_store(store_url)
    dataset_id = create_synthetic(store, "task1", num_sequences=100).dataset_id
    gone = new_id("trainer")  # a trainer that died without a heartbeat record
    corrupt = job_record(new_id("job"), "RUNNING", dataset_id, gone)
    waiting = job_record(new_id("job"), "PENDING", dataset_id, gone)
    for record in (corrupt, waiting):
        store.put_record(JOBS_NAMESPACE, record["job_id"], record)
    # Truncate the first record to 40 bytes behind the store's back (through the backend).
    path = f"records/{JOBS_NAMESPACE}/{corrupt['job_id']}.json"
    store._put(path, store._get(path, missing="record")[:40])

    with trainer_server(store_url) as trainer:
        stub = trainer.stub
        error = rpc_error(stub.GetJob, pb.GetJobRequest(job_id=corrupt["job_id"]), timeout=RPC_TIMEOUT)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert corrupt["job_id"] in error.details() and "is corrupt (40 bytes" in error.details()
        error = rpc_error(stub.WatchJob, pb.WatchJobRequest(job_id=corrupt["job_id"]), timeout=RPC_TIMEOUT)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
        # The supervisor runs: the orphan sweep adopted the other job of the dead trainer, and a
        # new job is dispatched; both train to the end.
        new = train(stub, dataset_id, pb.TrainingSpec(epochs=1))
        for job_id in (waiting["job_id"], new):
            job = watch_to_end(stub, job_id)
            assert job.state == trainer_pb2.JOB_STATE_SUCCEEDED and job.epochs_done == 1, job.error
        assert stub.GetJob(pb.GetJobRequest(job_id=waiting["job_id"]), timeout=RPC_TIMEOUT).job.model_id
        listed = stub.ListJobs(pb.ListJobsRequest(), timeout=RPC_TIMEOUT).jobs
        assert sorted(j.job_id for j in listed) == sorted([waiting["job_id"], new])
        assert record_of(store, waiting["job_id"])["owner"] == trainer.jobs.manager_id


def test_records_and_blobs_are_verified_on_both_backends(store: ArtifactStore, caplog):
    for key in ("job-a", "job-b"):
        store.put_record(JOBS_NAMESPACE, key, {"job_id": key, "state": "PENDING"})
    store._put(f"records/{JOBS_NAMESPACE}/job-a.json", b'{"format": "motiflens.record.v1"')
    with pytest.raises(CorruptRecordError, match=r"records/jobs/job-a\.json is corrupt"):
        store.get_record(JOBS_NAMESPACE, "job-a")
    with caplog.at_level("WARNING", logger="services.common.store"):
        assert store.list_records(JOBS_NAMESPACE) == [{"job_id": "job-b", "state": "PENDING"}]
        assert store.list_records(JOBS_NAMESPACE) == [{"job_id": "job-b", "state": "PENDING"}]
    assert sum("job-a.json" in r.getMessage() for r in caplog.records) == 1
    checkpoint = bytes(range(256)) * 4096  # 1 MiB
    store.put_blob(CHECKPOINTS_NAMESPACE, "job-b", checkpoint)
    assert store.get_blob(CHECKPOINTS_NAMESPACE, "job-b") == checkpoint
    store._put(
        f"blobs/{CHECKPOINTS_NAMESPACE}/job-b",
        store._get(f"blobs/{CHECKPOINTS_NAMESPACE}/job-b", missing="")[:-1],
    )
    with pytest.raises(CorruptRecordError, match="fail their sha256 check"):
        store.get_blob(CHECKPOINTS_NAMESPACE, "job-b")
    store.delete_blob(CHECKPOINTS_NAMESPACE, "job-b")
    store.delete_blob(CHECKPOINTS_NAMESPACE, "job-b")
    assert not has_checkpoint(store, "job-b")


# --------------------------------------------------------------------------- 2 + 4. killed processes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_trainer_process(store_url: str, tmp_path: Path) -> tuple[subprocess.Popen, int]:
    """``python -m services.trainer`` on a free loopback port, once it serves."""
    port = _free_port()
    env = {
        **os.environ,
        "MOTIFLENS_HOST": "127.0.0.1",
        "MOTIFLENS_TRAINER_PORT": str(port),
        "MOTIFLENS_TRAINER_METRICS_PORT": "-1",
        "MOTIFLENS_STORE": store_url,
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    log = (tmp_path / f"trainer-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "services.trainer"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    channel = make_channel(port)
    try:
        wait_for_serving(channel, SERVICE_NAME, timeout=90)
    finally:
        channel.close()
    return process, port


def test_sigkilled_trainer_takes_its_worker_along_and_the_next_trainer_resumes(tmp_path: Path):
    store_url = (tmp_path / "store").as_uri()
    store = open_store(store_url)
    process, port = start_trainer_process(store_url, tmp_path)
    try:
        channel = make_channel(port)
        stub = trainer_pb2_grpc.TrainerServiceStub(channel)
        dataset_id = create_task1(stub)
        job_id = train(stub, dataset_id, LONG)
        channel.close()
        seen = wait_for(lambda: running_with_epochs(store, job_id), timeout=180)
        assert seen, record_of(store, job_id)
        worker_pid = seen["worker"]["pid"]
        assert worker_pid != process.pid and alive(worker_pid)
        # Training runs at a lower CPU priority than the trainer's RPC threads.
        niceness = os.getpriority(os.PRIO_PROCESS, worker_pid) - os.getpriority(os.PRIO_PROCESS, process.pid)
        assert niceness == WORKER_NICENESS
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # The worker noticed its parent's death and is gone too (generous bound; it takes < 1 s).
    assert wait_for(lambda: not alive(worker_pid), timeout=30, interval=0.2), f"worker {worker_pid} lives on"
    assert record_of(store, job_id)["state"] == "RUNNING"  # nobody recorded anything

    # The next trainer finds the job's owner dead (its pid is gone) and resumes the job.
    with trainer_server(store_url) as trainer:
        job = watch_to_end(trainer.stub, job_id)
        record = assert_resumed_run(store, job, epochs=LONG.epochs, resumed_after=seen["epochs_done"])
        assert record["resumes"] == 1 and record["last_interruption"] == INTERRUPTED_ERROR
        assert record["owner"] == trainer.jobs.manager_id and record["worker"]["pid"] != worker_pid


def next_worker(store: ArtifactStore, job_id: str, previous_pid: int) -> dict | None:
    """The job's record once a worker other than ``previous_pid`` runs it, after epoch 1."""
    record = running_with_epochs(store, job_id)
    return record if record and record["worker"]["pid"] != previous_pid else None


#: Started by a short-lived parent: starts the parent watchdog, says "ready", then would sleep 10 min.
ORPHAN = """
import sys, threading, time
from services.trainer.worker import _watch_parent
threading.Thread(target=_watch_parent, args=(int(sys.argv[1]), 0.2), daemon=True).start()
print("ready", flush=True)
time.sleep(600)
"""
PARENT = """
import os, subprocess, sys
command = [sys.executable, "-c", sys.argv[1], str(os.getpid())]
child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
assert child.stdout.readline().strip() == "ready"
print(child.pid, flush=True)
"""


def test_watchdog_ends_a_worker_whose_parent_is_gone():
    # Without PR_SET_PDEATHSIG (other systems), the watchdog alone notices the re-parenting.
    parent = subprocess.run(
        [sys.executable, "-c", PARENT, ORPHAN], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert parent.returncode == 0, parent.stderr[-2000:]
    orphan = int(parent.stdout.strip())
    try:
        assert wait_for(lambda: not alive(orphan), timeout=30, interval=0.2), f"pid {orphan} lives on"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(orphan, signal.SIGKILL)


def test_killed_worker_job_resumes_from_its_checkpoint(tmp_path: Path):
    with trainer_server((tmp_path / "store").as_uri(), JobSettings(max_resumes=1)) as trainer:
        dataset_id = create_task1(trainer.stub)
        job_id = train(trainer.stub, dataset_id, LONG)
        seen = wait_for(lambda: running_with_epochs(trainer.store, job_id), timeout=180)
        assert seen, record_of(trainer.store, job_id)
        os.kill(seen["worker"]["pid"], signal.SIGKILL)
        job = watch_to_end(trainer.stub, job_id)
        record = assert_resumed_run(trainer.store, job, epochs=LONG.epochs, resumed_after=seen["epochs_done"])
        assert record["resumes"] == 1 and record["last_interruption"] == WORKER_DIED
        assert record["worker"]["pid"] != seen["worker"]["pid"]
        # Killed again and again: past the limit (1 here) the job fails, saying why.
        capped = train(trainer.stub, dataset_id, LONG)
        pid = 0
        for kill in range(2):
            current = wait_for(lambda pid=pid: next_worker(trainer.store, capped, pid), timeout=180)
            assert current and current.get("resumes", 0) == kill, record_of(trainer.store, capped)
            pid = current["worker"]["pid"]
            os.kill(pid, signal.SIGKILL)
        job = watch_to_end(trainer.stub, capped)
        assert job.state == trainer_pb2.JOB_STATE_FAILED
        assert job.error == (
            f"{WORKER_DIED}; gave up after 1 resume(s) (the limit is 1, MOTIFLENS_TRAINER_MAX_RESUMES); "
            "start a new job"
        )
        assert not has_checkpoint(trainer.store, capped)


# --------------------------------------------------------------------------- 3. a store outage


class TcpProxy:
    """A loopback TCP proxy; :meth:`stop` refuses and cuts every connection, :meth:`start` resumes.

    Between the two the port has no listener, so clients get "connection refused" — what
    a store behind a network outage or a restarting load balancer looks like.
    """

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() below
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def s3_proxy(s3_server) -> Iterator[TcpProxy]:
    proxy = TcpProxy(s3_server.port)
    proxy.start()
    yield proxy
    proxy.stop()


def outage(proxy: TcpProxy, seconds: float) -> None:
    proxy.stop()
    time.sleep(seconds)
    proxy.start()


def test_store_outage_mid_job_is_ridden_out_or_resumed(s3_server, s3_proxy: TcpProxy):
    url = s3_server.url(s3_server.create_bucket()).replace(s3_server.endpoint, f"127.0.0.1:{s3_proxy.port}")
    direct = open_store(url.replace(f"127.0.0.1:{s3_proxy.port}", s3_server.endpoint))  # sees no outage
    fast = {"heartbeat_seconds": 2.0, "orphan_sweep_seconds": 1.0}
    settings = JobSettings(store_retry_seconds=6, **fast)
    # A second replica behind the same outage: its orphan sweep runs every second and would
    # take the first trainer's job as soon as that one's heartbeat looked three beats old.
    other = JobManager(url, JobSettings(**fast))
    try:
        with trainer_server(url, settings) as trainer:
            dataset_id = create_task1(trainer.stub)
            job_id = train(trainer.stub, dataset_id, pb.TrainingSpec(epochs=40, patience=-1, batch_size=50))
            first = wait_for(lambda: running_with_epochs(direct, job_id), timeout=180)
            assert first, record_of(direct, job_id)

            # 2 s down: within the worker's 6 s of retries, the run just goes on.
            outage(s3_proxy, 2.0)
            later = wait_for(
                lambda: running_with_epochs(direct, job_id, first["epochs_done"] + 2), timeout=60
            )
            assert later and later["worker"] == first["worker"] and later.get("resumes", 0) == 0

            # 14 s down: longer than the retries and than three heartbeats. The worker gives
            # up, and once the store is back its own trainer resumes the job, nobody else.
            outage(s3_proxy, 14.0)
            job = watch_to_end(trainer.stub, job_id)
            record = assert_resumed_run(direct, job, epochs=40, resumed_after=later["epochs_done"])
            assert record["resumes"] == 1 and record["owner"] == trainer.jobs.manager_id
            assert record["last_interruption"].startswith(
                f"artifact store unreachable for 6 s: artifact store {direct.url} at "
                f"127.0.0.1:{s3_proxy.port} is unavailable: connection refused"
            )
            assert other.list_jobs()[0]["owner"] == trainer.jobs.manager_id
    finally:
        other.close()
