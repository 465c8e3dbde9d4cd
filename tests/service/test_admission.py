"""Admission control over the wire: calls and streams are bounded, health always answers, shutdown refuses.

The handlers here block on an Event the test releases, so "busy" is a state, not a
duration: the assertions hold however slow the machine is.
"""

from __future__ import annotations

import threading
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from motiflens_client.api import pb, trainer_pb2_grpc

from services.common.config import ConfigError, Settings
from services.common.server import LIVENESS_SERVICE
from tests.service.helpers import make_settings, rpc_error, running_server

pytestmark = pytest.mark.timeout(120)
SERVICE = "motiflens.v1.TrainerService"
Code = grpc.StatusCode


class BlockingServicer(trainer_pb2_grpc.TrainerServiceServicer):
    """GetJob and WatchJob block until ``release`` is set; ``entered`` counts handlers running."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)
        self.calls: list[str] = []

    def GetJob(self, request, context):
        self.calls.append(request.job_id)
        if request.job_id.startswith("block"):
            self.entered.release()
            self.release.wait(60)
        state = pb.JobState.Value("JOB_STATE_SUCCEEDED") if request.job_id.startswith("done") else 0
        return pb.GetJobResponse(job=pb.Job(job_id=request.job_id, state=state))

    def WatchJob(self, request, context):
        self.entered.release()
        yield pb.JobEvent(job_id=request.job_id)
        self.release.wait(60)
        yield pb.JobEvent(job_id=request.job_id)


def _register(servicer):
    return lambda server: trainer_pb2_grpc.add_TrainerServiceServicer_to_server(servicer, server)


@pytest.fixture
def busy_server():
    servicer = BlockingServicer()
    settings = make_settings("trainer", max_workers=8, max_calls=2, max_streams=3)
    with running_server(_register(servicer), service_name=SERVICE, settings=settings) as running:
        yield running, servicer
        servicer.release.set()


def _acquire(semaphore: threading.Semaphore, count: int) -> None:
    for _ in range(count):
        assert semaphore.acquire(timeout=30)


def test_calls_and_streams_beyond_the_limits_are_refused_and_health_still_answers(busy_server):
    running, servicer = busy_server
    stub = trainer_pb2_grpc.TrainerServiceStub(running.channel())
    health = health_pb2_grpc.HealthStub(running.channel())
    pool = futures.ThreadPoolExecutor(8)
    try:
        blocked = [
            pool.submit(stub.GetJob, pb.GetJobRequest(job_id=f"block{i}"), timeout=60) for i in range(2)
        ]
        streams = [stub.WatchJob(pb.WatchJobRequest(job_id=f"w{i}"), timeout=60) for i in range(3)]
        for stream in streams:
            assert next(stream).job_id.startswith("w")
        _acquire(servicer.entered, 5)  # every slot is now taken, and stays so until release

        error = rpc_error(stub.GetJob, pb.GetJobRequest(job_id="extra"), timeout=30)
        assert error.code() == Code.RESOURCE_EXHAUSTED
        assert "2 calls in progress" in error.details() and "MOTIFLENS_MAX_CALLS" in error.details()
        error = rpc_error(stub.WatchJob, pb.WatchJobRequest(job_id="w-extra"), timeout=30)
        assert error.code() == Code.RESOURCE_EXHAUSTED
        assert "3 streams in progress" in error.details() and "MOTIFLENS_MAX_STREAMS" in error.details()
        assert "extra" not in servicer.calls

        for name in ("", SERVICE, LIVENESS_SERVICE):
            reply = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=30)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        rejected = running.server.metrics.registry.get_sample_value
        assert rejected("motiflens_rejected_calls_total", {"reason": "calls"}) == 1
        assert rejected("motiflens_rejected_calls_total", {"reason": "streams"}) == 1

        servicer.release.set()
        assert [f.result(timeout=30).job.job_id for f in blocked] == ["block0", "block1"]
        for stream in streams:
            assert len(list(stream)) == 1
        # Slots come back: the next call and stream are served.
        assert stub.GetJob(pb.GetJobRequest(job_id="after"), timeout=30).job.job_id == "after"
        assert len(list(stub.WatchJob(pb.WatchJobRequest(job_id="w-after"), timeout=30))) == 2
    finally:
        servicer.release.set()
        pool.shutdown(wait=True)


def test_a_client_that_cancels_its_stream_frees_the_slot(busy_server):
    running, servicer = busy_server
    stub = trainer_pb2_grpc.TrainerServiceStub(running.channel())
    streams = [stub.WatchJob(pb.WatchJobRequest(job_id=f"c{i}"), timeout=60) for i in range(3)]
    for stream in streams:
        next(stream)
    for stream in streams:
        stream.cancel()
    servicer.release.set()  # the handlers return; their slots must be released

    def served() -> bool:
        try:
            return len(list(stub.WatchJob(pb.WatchJobRequest(job_id="again"), timeout=30))) == 2
        except grpc.RpcError as error:
            assert error.code() == Code.RESOURCE_EXHAUSTED
            return False

    for _ in range(300):
        if served():
            break
        threading.Event().wait(0.1)
    else:
        raise AssertionError("stream slots were not released after the clients cancelled")


def test_draining_refuses_every_new_call_before_it_runs(busy_server):
    running, servicer = busy_server
    stub = trainer_pb2_grpc.TrainerServiceStub(running.channel())
    running.server.begin_draining()
    error = rpc_error(stub.GetJob, pb.GetJobRequest(job_id="late"), timeout=30)
    assert error.code() == Code.UNAVAILABLE
    assert "shutting down" in error.details()
    assert "late" not in servicer.calls


def test_limits_must_leave_threads_for_health():
    with pytest.raises(ConfigError, match="must leave 2 of the MOTIFLENS_MAX_WORKERS=16"):
        Settings.from_env(
            "trainer",
            {"MOTIFLENS_MAX_WORKERS": "16", "MOTIFLENS_MAX_CALLS": "10", "MOTIFLENS_MAX_STREAMS": "5"},
        )
    settings = Settings.from_env("trainer", {"MOTIFLENS_MAX_WORKERS": "16"})
    assert settings.max_calls + settings.max_streams <= 14


def _take_every_stream_slot(running, servicer) -> list:
    """Open the busy server's 3 allowed WatchJob streams and wait until all 3 handlers run."""
    stub = trainer_pb2_grpc.TrainerServiceStub(running.channel())
    held = [stub.WatchJob(pb.WatchJobRequest(job_id=f"h{i}"), timeout=60) for i in range(3)]
    for stream in held:
        next(stream)
    _acquire(servicer.entered, 3)
    return held


def test_sdk_job_watch_waits_out_the_stream_limit(busy_server):
    from motiflens_client import Client

    running, servicer = busy_server
    held = _take_every_stream_slot(running, servicer)
    received = []
    with Client(f"127.0.0.1:{running.server.port}", timeout=60, retries=0) as client:
        watcher = threading.Thread(
            target=lambda: received.extend(
                client._stream(
                    client._trainer, "WatchJob", pb.WatchJobRequest(job_id="sdk"), timeout=60, patient=True
                )
            )
        )
        watcher.start()
        # The SDK's stream is refused (limit reached) and keeps retrying instead of failing.
        rejected = running.server.metrics.registry.get_sample_value
        for _ in range(600):
            if (rejected("motiflens_rejected_calls_total", {"reason": "streams"}) or 0) >= 2:
                break
            threading.Event().wait(0.05)
        assert watcher.is_alive() and received == []
        servicer.release.set()
        watcher.join(timeout=60)
    assert [event.job_id for event in received] == ["sdk", "sdk"]
    assert [len(list(stream)) for stream in held] == [1, 1, 1]  # the held streams stayed open throughout


def test_readiness_follows_a_real_store_outage_and_liveness_does_not(start_s3_server):
    from services.common.store import open_store

    s3 = start_s3_server()
    store = open_store(s3.url(s3.create_bucket()))
    settings = make_settings("trainer", store_check_seconds=0.2)
    with running_server(
        _register(BlockingServicer()), service_name=SERVICE, settings=settings, store=store
    ) as running:
        health = health_pb2_grpc.HealthStub(running.channel())

        def status(name: str) -> int:
            return health.Check(health_pb2.HealthCheckRequest(service=name), timeout=30).status

        def becomes(name: str, wanted: int) -> bool:
            for _ in range(600):
                if status(name) == wanted:
                    return True
                threading.Event().wait(0.05)
            return False

        serving, not_serving = (
            health_pb2.HealthCheckResponse.SERVING,
            health_pb2.HealthCheckResponse.NOT_SERVING,
        )
        assert status("") == serving and status(LIVENESS_SERVICE) == serving
        port = s3.port
        s3.kill()
        assert becomes("", not_serving)
        assert status(SERVICE) == not_serving
        assert status(LIVENESS_SERVICE) == serving  # the liveness probe would not restart the pod
        start_s3_server(port=port)  # same port; moto keeps no data, so make the bucket again
        s3.client().make_bucket(store.bucket)
        assert becomes("", serving)
        assert status(SERVICE) == serving


def test_sdk_wait_notices_a_finished_job_while_every_stream_slot_is_taken(busy_server):
    from motiflens_client import Client

    running, servicer = busy_server
    held = _take_every_stream_slot(running, servicer)
    try:
        with Client(f"127.0.0.1:{running.server.port}", timeout=60, retries=0) as client:
            # Its WatchJob is refused for as long as the three streams stay open; GetJob
            # (a unary call) shows the job has ended, so wait() returns instead of hanging.
            info = client.job("done-1").wait(timeout=60, progress=False)
        assert info.state == "SUCCEEDED" and info.job_id == "done-1"
        assert "done-1" in servicer.calls
    finally:
        servicer.release.set()
    assert [len(list(stream)) for stream in held] == [1, 1, 1]  # the held streams stayed open throughout
