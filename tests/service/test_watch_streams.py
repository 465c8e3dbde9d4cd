"""WatchJob streams hold no handler thread (real trainer, real worker process, loopback).

A trainer with 6 handler threads keeps 40 WatchJob streams of one running job open
and still answers unary calls and health; the 41st stream is RESOURCE_EXHAUSTED
(``MOTIFLENS_MAX_WATCHERS``); cancelled streams are recorded as CANCELLED and free
their slots; the streams left open get every epoch and the final job; closing the
job manager ends open streams with UNAVAILABLE.
"""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from motiflens_client.api import pb, trainer_pb2

from tests.service.helpers import make_settings, rpc_error
from tests.service.test_trainer import (
    CNN_LOCAL_EXP,
    RPC_TIMEOUT,
    WATCH_TIMEOUT,
    create_task1,
    trainer_server,
    wait_for,
)

pytestmark = pytest.mark.timeout(600)

STREAMS = 40
WATCH = {"grpc_service": "motiflens.v1.TrainerService", "grpc_method": "WatchJob"}


def _sample(trainer, name: str, labels: dict) -> float:
    return trainer.metrics.registry.get_sample_value(name, labels) or 0.0


def _in_flight(trainer) -> float:
    return _sample(trainer, "motiflens_grpc_requests_in_flight", WATCH)


def _calls(trainer, code: str) -> float:
    return _sample(trainer, "motiflens_grpc_requests_total", {**WATCH, "grpc_code": code})


def test_many_watch_streams_hold_no_handler_thread(tmp_path: Path):
    settings = make_settings("trainer", max_workers=6, max_calls=2, max_streams=2, max_watchers=STREAMS)
    with trainer_server((tmp_path / "store").as_uri(), server_settings=settings) as trainer:
        stub = trainer.stub
        dataset = create_task1(stub)
        job = stub.Train(
            pb.TrainRequest(
                dataset_id=dataset.dataset_id,
                model=CNN_LOCAL_EXP,
                training=pb.TrainingSpec(epochs=4, patience=-1, batch_size=50),
            ),
            timeout=RPC_TIMEOUT,
        )
        request = pb.WatchJobRequest(job_id=job.job_id)
        streams = [stub.WatchJob(request, timeout=WATCH_TIMEOUT) for _ in range(STREAMS)]
        # Every stream is open at once: 40 calls in flight on a server with 6 threads.
        assert wait_for(lambda: _in_flight(trainer) == STREAMS, timeout=60), _in_flight(trainer)

        # Unary calls and health are still answered while all 40 streams stay open.
        health = health_pb2_grpc.HealthStub(trainer.channel)
        for _ in range(5):
            reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            assert stub.GetJob(pb.GetJobRequest(job_id=job.job_id), timeout=10).job.job_id == job.job_id

        # One more stream is refused at once, naming the limit.
        error = rpc_error(stub.WatchJob, request, timeout=30)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert f"{STREAMS} watchers in progress" in error.details()
        assert "MOTIFLENS_MAX_WATCHERS" in error.details()

        # Half the clients leave: their calls end as CANCELLED and free their slots.
        for stream in streams[: STREAMS // 2]:
            stream.cancel()
        assert wait_for(lambda: _in_flight(trainer) == STREAMS // 2, timeout=60), _in_flight(trainer)
        assert _calls(trainer, "CANCELLED") == STREAMS // 2

        # The others see every epoch once, in order, then the final job, and end OK.
        for stream in streams[STREAMS // 2 :]:
            events = list(stream)
            epochs = [e.epoch.epoch for e in events if e.WhichOneof("payload") == "epoch"]
            assert epochs == [1, 2, 3, 4]
            assert events[-1].WhichOneof("payload") == "final"
            assert events[-1].final.state == trainer_pb2.JOB_STATE_SUCCEEDED
        assert wait_for(lambda: _calls(trainer, "OK") == STREAMS // 2, timeout=30)
        assert _in_flight(trainer) == 0 and len(trainer.jobs.watchers) == 0

        # A stream opened after the end replays the history (slots were given back).
        replay = list(stub.WatchJob(request, timeout=RPC_TIMEOUT))
        assert [e.epoch.epoch for e in replay[:-1]] == [1, 2, 3, 4]


def test_closing_the_trainer_ends_open_streams_with_unavailable(tmp_path: Path):
    with trainer_server((tmp_path / "store").as_uri()) as trainer:
        dataset = create_task1(trainer.stub)
        job = trainer.stub.Train(
            pb.TrainRequest(
                dataset_id=dataset.dataset_id,
                model=CNN_LOCAL_EXP,
                training=pb.TrainingSpec(epochs=500, patience=-1, batch_size=50),
            ),
            timeout=RPC_TIMEOUT,
        )
        stream = trainer.stub.WatchJob(pb.WatchJobRequest(job_id=job.job_id), timeout=WATCH_TIMEOUT)
        assert wait_for(lambda: len(trainer.jobs.watchers) == 1, timeout=30)
        outcome: list = []
        reader = threading.Thread(target=lambda: outcome.append(_drain(stream)))
        reader.start()
        trainer.jobs.watchers.close()
        reader.join(timeout=60)
        assert outcome and isinstance(outcome[0], grpc.RpcError), outcome
        assert outcome[0].code() == grpc.StatusCode.UNAVAILABLE
        assert "shutting down" in outcome[0].details()
        # A new watch on a closed hub is refused the same way, before anything is sent.
        error = rpc_error(trainer.stub.WatchJob, pb.WatchJobRequest(job_id=job.job_id), timeout=30)
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        trainer.stub.CancelJob(pb.CancelJobRequest(job_id=job.job_id), timeout=RPC_TIMEOUT)


def _drain(stream):
    try:
        return list(stream)
    except grpc.RpcError as error:
        return error
