"""The shared server bootstrap over real loopback servers: errors, auth, health, reflection,
metrics, limits, deadlines, shutdown, TLS; plus config and proto conversions.

The servicer under test is a probe built on the generated TrainerService base class:
``GetJob(job_id="raise:<Error>")`` raises, ``"sleep:<s>"`` sleeps, anything else answers;
``WatchJob`` streams two events and then raises NotFoundError.
"""

from __future__ import annotations

import datetime
import io
import ipaddress
import json
import logging
import sys
import threading
import time

import grpc
import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status
from helpers import make_channel, make_settings, rpc_error, running_server, scrape_metrics
from motiflens_client.api import common_pb2, pb, trainer_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from motiflens.errors import (
    AlreadyExistsError,
    CancelledError,
    FailedPreconditionError,
    InvalidInputError,
    MotiflensError,
    NotFoundError,
    ResourceExhaustedError,
    UnavailableError,
)
from services.common import convert
from services.common.config import ConfigError, DiscoveryLimits, ModelFileSettings, Settings
from services.common.errors import INTERNAL_MESSAGE, status_for
from services.common.server import REQUEST_ID_KEY, ErrorInterceptor, JsonFormatter

SERVICE = "motiflens.v1.TrainerService"
Code = grpc.StatusCode
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

ERRORS = {
    "InvalidInputError": (InvalidInputError, Code.INVALID_ARGUMENT),
    "NotFoundError": (NotFoundError, Code.NOT_FOUND),
    "FailedPreconditionError": (FailedPreconditionError, Code.FAILED_PRECONDITION),
    "AlreadyExistsError": (AlreadyExistsError, Code.ALREADY_EXISTS),
    "ResourceExhaustedError": (ResourceExhaustedError, Code.RESOURCE_EXHAUSTED),
    "UnavailableError": (UnavailableError, Code.UNAVAILABLE),
    "CancelledError": (CancelledError, Code.CANCELLED),
    "MotiflensError": (MotiflensError, Code.INTERNAL),
    "RuntimeError": (RuntimeError, Code.INTERNAL),
    "KeyError": (KeyError, Code.INTERNAL),
}


class ProbeServicer(trainer_pb2_grpc.TrainerServiceServicer):
    """A tiny TrainerService for exercising the server machinery."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.sleeping = threading.Event()

    def GetJob(self, request, context):
        self.calls.append(request.job_id)
        action, _, argument = request.job_id.partition(":")
        if action == "raise":
            error_type, _ = ERRORS[argument]
            message = f"job_id: secret detail of {argument}"
            if issubclass(error_type, MotiflensError):
                raise error_type(message, field="job_id")  # the field rides as an attribute
            raise error_type(message)
        if action == "sleep":
            self.sleeping.set()
            time.sleep(float(argument))
        return pb.GetJobResponse(job=pb.Job(job_id=request.job_id[:64]))

    def WatchJob(self, request, context):
        for epoch in (1, 2):
            yield pb.JobEvent(job_id=request.job_id, epoch=pb.EpochMetrics(epoch=epoch))
        raise NotFoundError(f"job_id: job {request.job_id!r} vanished mid-stream")


def register(servicer: ProbeServicer):
    return lambda server: trainer_pb2_grpc.add_TrainerServiceServicer_to_server(servicer, server)


@pytest.fixture(scope="module")
def probe():
    servicer = ProbeServicer()
    with running_server(register(servicer), service_name=SERVICE) as running:
        yield running, trainer_pb2_grpc.TrainerServiceStub(running.channel()), servicer


def get_job(job_id: str) -> pb.GetJobRequest:
    return pb.GetJobRequest(job_id=job_id)


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("name", list(ERRORS))
def test_exception_to_status_table(name):
    error_type, code = ERRORS[name]
    assert status_for(error_type("job_id: secret detail"))[0] == code


@pytest.mark.parametrize("name", list(ERRORS))
def test_exception_maps_to_status_over_the_wire(probe, name, caplog):
    _, stub, _ = probe
    error_type, code = ERRORS[name]
    with caplog.at_level(logging.DEBUG, logger="services.common.interceptors"):
        error = rpc_error(stub.GetJob, get_job(f"raise:{name}"))
    assert error.code() == code
    tracebacks = [record for record in caplog.records if record.exc_info]
    if name in ("RuntimeError", "KeyError"):
        # A bug: fixed message to the client, traceback to the log only.
        assert error.details() == INTERNAL_MESSAGE
        assert "secret" not in error.details()
        assert len(tracebacks) == 1 and tracebacks[0].exc_info[0] is error_type
    else:
        assert error.details() == f"job_id: secret detail of {name}"
        assert tracebacks == [] if code != Code.INTERNAL else len(tracebacks) == 1


def test_invalid_argument_carries_bad_request_detail(probe):
    _, stub, _ = probe
    error = rpc_error(stub.GetJob, get_job("raise:InvalidInputError"))
    status = rpc_status.from_call(error)
    assert status is not None and status.message == "job_id: secret detail of InvalidInputError"
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    violation = bad_request.field_violations[0]
    assert (violation.field, violation.description) == ("job_id", "secret detail of InvalidInputError")


def test_error_inside_server_stream_keeps_earlier_messages(probe):
    _, stub, _ = probe
    stream = stub.WatchJob(pb.WatchJobRequest(job_id="job-1"))
    received = []
    with pytest.raises(grpc.RpcError) as caught:
        for event in stream:
            received.append(event.epoch.epoch)
    assert received == [1, 2]
    assert caught.value.code() == Code.NOT_FOUND
    assert "vanished mid-stream" in caught.value.details()


def test_request_id_is_echoed_and_logged(probe, caplog):
    _, stub, _ = probe
    with caplog.at_level(logging.INFO, logger="services.common.interceptors"):
        _, call = stub.GetJob.with_call(get_job("ok"), metadata=[(REQUEST_ID_KEY, "req-42")])
    assert dict(call.initial_metadata())[REQUEST_ID_KEY] == "req-42"
    access = [r for r in caplog.records if getattr(r, "method", None) == f"/{SERVICE}/GetJob"]
    assert access and access[-1].code == "OK" and access[-1].duration_ms >= 0
    line = JsonFormatter().format(access[-1])
    assert '"request_id": "req-42"' in line and '"code": "OK"' in line
    # A caller without an id gets a fresh one.
    _, call = stub.GetJob.with_call(get_job("ok"))
    assert len(dict(call.initial_metadata())[REQUEST_ID_KEY]) == 16


# --------------------------------------------------------------------------- auth


def test_bearer_token_auth_and_exempt_probes():
    servicer = ProbeServicer()
    settings = make_settings(service="trainer", token="s3cret")
    with running_server(register(servicer), service_name=SERVICE, settings=settings) as running:
        anonymous = trainer_pb2_grpc.TrainerServiceStub(running.channel())
        wrong = trainer_pb2_grpc.TrainerServiceStub(running.channel(token="guess"))
        right = trainer_pb2_grpc.TrainerServiceStub(running.channel(token="s3cret"))

        error = rpc_error(anonymous.GetJob, get_job("ok"))
        assert error.code() == Code.UNAUTHENTICATED and "authorization: Bearer" in error.details()
        assert rpc_error(anonymous.WatchJob, pb.WatchJobRequest(job_id="x")).code() == Code.UNAUTHENTICATED
        error = rpc_error(anonymous.GetJob, get_job("ok"), metadata=[("authorization", "Basic czNjcmV0")])
        assert error.code() == Code.UNAUTHENTICATED
        error = rpc_error(wrong.GetJob, get_job("ok"))
        assert error.code() == Code.PERMISSION_DENIED and error.details() == "invalid bearer token"
        assert servicer.calls == []  # rejected calls never reached the handler

        assert right.GetJob(get_job("ok")).job.job_id == "ok"
        # Health and reflection work without a token (probes).
        health = health_pb2_grpc.HealthStub(running.channel())
        assert health.Check(health_pb2.HealthCheckRequest(service=SERVICE)).status == SERVING
        assert SERVICE in list_services(running.channel())


# --------------------------------------------------------------------------- health and reflection


class FlakyStore:
    """Duck-typed store whose ping fails until ``ready`` is set."""

    url = "memory://flaky"

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.pings = 0

    def ping(self) -> None:
        self.pings += 1
        if not self.ready.is_set():
            raise UnavailableError("store memory://flaky: not up yet")


def test_health_waits_for_store_then_serves_then_not_serving_on_shutdown():
    store = FlakyStore()
    with running_server(
        register(ProbeServicer()), service_name=SERVICE, store=store, wait_serving=False
    ) as running:
        health = health_pb2_grpc.HealthStub(running.channel())
        time.sleep(0.3)
        assert store.pings >= 2
        for name in ("", SERVICE):
            assert health.Check(health_pb2.HealthCheckRequest(service=name)).status == NOT_SERVING
        error = rpc_error(health.Check, health_pb2.HealthCheckRequest(service="no.Such"))
        assert error.code() == Code.NOT_FOUND

        store.ready.set()
        deadline = time.monotonic() + 5
        while health.Check(health_pb2.HealthCheckRequest(service=SERVICE)).status != SERVING:
            assert time.monotonic() < deadline, "health never turned SERVING"
            time.sleep(0.05)
        assert health.Check(health_pb2.HealthCheckRequest()).status == SERVING

        watch = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE), timeout=10)
        assert next(watch).status == SERVING
        stopper = threading.Thread(target=running.server.stop, args=(0.5,))
        stopper.start()
        assert next(watch).status == NOT_SERVING
        stopper.join(timeout=10)
        assert not running.server.serving


def list_services(channel: grpc.Channel) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    return [service.name for service in next(responses).list_services_response.service]


def test_reflection_lists_services_and_describes_them(probe):
    running, _, _ = probe
    channel = running.channel()
    assert set(list_services(channel)) == {
        SERVICE,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE)
    response = next(stub.ServerReflectionInfo(iter([request])))
    assert response.file_descriptor_response.file_descriptor_proto  # serialized trainer.proto


# --------------------------------------------------------------------------- metrics


def test_metrics_endpoint_counts_calls_by_method_and_code(probe):
    running, stub, _ = probe
    http = running.metrics.start_http_server("127.0.0.1", 0)
    try:

        def requests(method: str, code: str) -> float:
            for family in text_string_to_metric_families(scrape_metrics(http.port)):
                if family.name == "motiflens_grpc_requests":
                    for sample in family.samples:
                        labels = sample.labels
                        if (
                            sample.name == "motiflens_grpc_requests_total"
                            and labels["grpc_service"] == SERVICE
                            and labels["grpc_method"] == method
                            and labels["grpc_code"] == code
                        ):
                            return sample.value
            return 0.0

        ok_before = requests("GetJob", "OK")
        missing_before = requests("GetJob", "NOT_FOUND")
        stub.GetJob(get_job("ok"))
        stub.GetJob(get_job("ok"))
        rpc_error(stub.GetJob, get_job("raise:NotFoundError"))
        assert requests("GetJob", "OK") == ok_before + 2
        assert requests("GetJob", "NOT_FOUND") == missing_before + 1
        assert requests("WatchJob", "OK") == 0
        text = scrape_metrics(http.port)
        assert 'motiflens_grpc_request_duration_seconds_count{grpc_method="GetJob"' in text
        assert "motiflens_grpc_requests_in_flight" in text
        # Domain hooks live in the same registry.
        running.metrics.set_jobs({"RUNNING": 2})
        running.metrics.add_sequences_attributed(5, method="saliency")
        text = scrape_metrics(http.port)
        assert 'motiflens_jobs{state="RUNNING"} 2.0' in text
        assert 'motiflens_sequences_attributed_total{method="saliency"} 5.0' in text
    finally:
        http.close()


# --------------------------------------------------------------------------- limits and deadlines


def test_oversized_request_is_resource_exhausted():
    settings = make_settings(service="trainer", max_message_bytes=1024 * 1024)
    servicer = ProbeServicer()
    with running_server(register(servicer), service_name=SERVICE, settings=settings) as running:
        stub = trainer_pb2_grpc.TrainerServiceStub(running.channel())
        error = rpc_error(stub.GetJob, get_job("x" * (2 * 1024 * 1024)))
        assert error.code() == Code.RESOURCE_EXHAUSTED
        assert servicer.calls == []
        assert stub.GetJob(get_job("y" * (512 * 1024))).job.job_id == "y" * 64


def test_call_whose_deadline_expired_in_the_queue_never_runs():
    # One handler thread: the second call waits behind a slow one past its deadline.
    servicer = ProbeServicer()
    settings = make_settings(service="trainer", max_workers=1)
    with running_server(register(servicer), service_name=SERVICE, settings=settings) as running:
        stub = trainer_pb2_grpc.TrainerServiceStub(running.channel())
        slow = stub.GetJob.future(get_job("sleep:0.8"))
        assert servicer.sleeping.wait(5)
        error = rpc_error(stub.GetJob, get_job("late"), timeout=0.2)
        assert error.code() == Code.DEADLINE_EXCEEDED
        assert slow.result(timeout=5).job.job_id == "sleep:0.8"
        time.sleep(0.2)
        assert servicer.calls == ["sleep:0.8"]


class _ExpiredContext:
    """The bits of a ServicerContext the error interceptor uses, with the deadline gone."""

    def __init__(self) -> None:
        self.aborted: tuple | None = None

    def time_remaining(self) -> float:
        return 0.0

    def code(self):
        return None

    def abort(self, code, details):
        self.aborted = (code, details)
        raise RuntimeError("aborted")


def test_error_interceptor_rejects_expired_deadline_without_running_handler():
    ran = []
    context = _ExpiredContext()
    with pytest.raises(RuntimeError, match="aborted"):
        ErrorInterceptor().around_unary("/x.Y/Z", lambda request, ctx: ran.append(1), None, context)
    assert ran == [] and context.aborted[0] == Code.DEADLINE_EXCEEDED


# --------------------------------------------------------------------------- shutdown


def test_graceful_shutdown_finishes_in_flight_call_and_refuses_new_ones():
    servicer = ProbeServicer()
    with running_server(register(servicer), service_name=SERVICE) as running:
        stub = trainer_pb2_grpc.TrainerServiceStub(running.channel())
        slow = stub.GetJob.future(get_job("sleep:1.5"), timeout=10)
        assert servicer.sleeping.wait(5)
        started = time.monotonic()
        stopper = threading.Thread(target=running.server.stop, args=(30.0,))
        stopper.start()
        # Once the stop has begun (its first step), every new call is refused: no
        # window in which a call slips in, however slowly the stopper thread runs.
        assert wait_until(lambda: running.server.draining, timeout=30)
        error = rpc_error(stub.GetJob, get_job("new"), timeout=10)
        # UNAVAILABLE from admission (or once the port is closed), CANCELLED on the open connection.
        assert error.code() in (Code.CANCELLED, Code.UNAVAILABLE)
        assert not slow.done()
        assert slow.result(timeout=10).job.job_id == "sleep:1.5"  # the in-flight call finished
        stopper.join(timeout=10)
        assert not stopper.is_alive()
        assert time.monotonic() - started < 20  # returned once drained, not after the 30 s grace
        assert "new" not in servicer.calls


# --------------------------------------------------------------------------- TLS


def _self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "motiflens-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_tls_server_accepts_tls_clients_only(tmp_path):
    cert_path, key_path = _self_signed(tmp_path)
    env = {
        "MOTIFLENS_TLS_CERT": str(cert_path),
        "MOTIFLENS_TLS_KEY": str(key_path),
        "MOTIFLENS_TRAINER_PORT": "0",
    }
    settings = Settings.from_env("trainer", env)
    assert settings.tls
    with running_server(
        register(ProbeServicer()), service_name=SERVICE, settings=settings, wait_serving=False
    ) as running:
        credentials = grpc.ssl_channel_credentials(root_certificates=cert_path.read_bytes())
        secure = make_channel(running.port, credentials=credentials)
        plain = make_channel(running.port)
        try:
            stub = trainer_pb2_grpc.TrainerServiceStub(secure)
            assert stub.GetJob(get_job("ok"), timeout=10).job.job_id == "ok"
            error = rpc_error(trainer_pb2_grpc.TrainerServiceStub(plain).GetJob, get_job("ok"), timeout=2)
            assert error.code() == Code.UNAVAILABLE
        finally:
            secure.close()
            plain.close()


# --------------------------------------------------------------------------- config


def test_settings_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = Settings.from_env("motifmatch", {})
    assert (settings.host, settings.port, settings.metrics_port) == ("127.0.0.1", 50053, 9103)
    assert settings.store_url == (tmp_path / ".motiflens" / "store").as_uri()
    assert settings.token == "" and not settings.tls
    assert settings.max_message_bytes == 64 * 1024 * 1024
    assert (settings.max_workers, settings.grace_seconds, settings.log_level) == (64, 10.0, "INFO")
    assert (settings.max_calls, settings.max_streams) == (24, 16)
    assert Settings.from_env("trainer", {}).port == 50051
    assert Settings.from_env("interpreter", {}).metrics_port == 9102


def test_settings_overrides_and_token_hidden():
    env = {
        "MOTIFLENS_HOST": "::",
        "MOTIFLENS_INTERPRETER_PORT": "0",
        "MOTIFLENS_INTERPRETER_METRICS_PORT": "-1",
        "MOTIFLENS_STORE": "s3://bucket/p?endpoint=minio:9000",
        "MOTIFLENS_TOKEN": "hunter2",
        "MOTIFLENS_MAX_MESSAGE_MB": "8",
        "MOTIFLENS_MAX_WORKERS": "4",
        "MOTIFLENS_GRACE_SECONDS": "2.5",
        "MOTIFLENS_LOG_LEVEL": "debug",
    }
    settings = Settings.from_env("interpreter", env)
    assert settings.bind_address == "[::]:0" and settings.metrics_port is None
    assert settings.max_message_bytes == 8 * 1024 * 1024 and settings.max_workers == 4
    assert (settings.max_calls, settings.max_streams) == (1, 1)  # 2 threads stay free for health
    assert (settings.grace_seconds, settings.log_level, settings.token) == (2.5, "DEBUG", "hunter2")
    assert "hunter2" not in repr(settings)


def test_child_process_limits_read_their_own_variables():
    assert ModelFileSettings.from_env({}) == ModelFileSettings(4096 << 20, 600)
    assert DiscoveryLimits.from_env({}) == DiscoveryLimits(4096 << 20, 1800)
    env = {"MOTIFLENS_DISCOVERY_MEMORY_MB": "2048", "MOTIFLENS_IMPORT_TIMEOUT_SECONDS": "60"}
    assert DiscoveryLimits.from_env(env) == DiscoveryLimits(2048 << 20, 1800)
    assert ModelFileSettings.from_env(env) == ModelFileSettings(4096 << 20, 60)
    for variable, value in (
        ("MOTIFLENS_DISCOVERY_MEMORY_MB", "100"),
        ("MOTIFLENS_DISCOVERY_TIMEOUT_SECONDS", "x"),
    ):
        with pytest.raises(ConfigError, match=variable):
            DiscoveryLimits.from_env({variable: value})


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MOTIFLENS_MOTIFMATCH_PORT", "70000"),
        ("MOTIFLENS_MOTIFMATCH_PORT", "http"),
        ("MOTIFLENS_MOTIFMATCH_METRICS_PORT", "-2"),
        ("MOTIFLENS_STORE", "/no/scheme"),
        ("MOTIFLENS_MAX_MESSAGE_MB", "0"),
        ("MOTIFLENS_MAX_MESSAGE_MB", "4096"),
        ("MOTIFLENS_MAX_WORKERS", "0"),
        ("MOTIFLENS_MAX_WORKERS", "3"),
        ("MOTIFLENS_MAX_CALLS", "63"),
        ("MOTIFLENS_GRACE_SECONDS", "-1"),
        ("MOTIFLENS_GRACE_SECONDS", "nan"),
        ("MOTIFLENS_LOG_LEVEL", "LOUD"),
        ("MOTIFLENS_TLS_CERT", "/does/not/exist.pem"),
        ("MOTIFLENS_HOST", "a host"),
    ],
)
def test_bad_setting_names_the_variable(variable, value):
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env("motifmatch", {variable: value})


def test_tls_needs_both_files(tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    with pytest.raises(ConfigError, match="MOTIFLENS_TLS_KEY"):
        Settings.from_env("trainer", {"MOTIFLENS_TLS_CERT": str(cert)})
    with pytest.raises(ConfigError, match="service"):
        Settings.from_env("gateway", {})


# --------------------------------------------------------------------------- conversions


def test_tensor_round_trip_every_dtype():
    for dtype in (np.float32, np.float64, np.int32, np.int64, np.int8, np.uint8):
        array = np.arange(24, dtype=dtype).reshape(2, 3, 4)
        tensor = convert.array_to_tensor(array)
        back = convert.tensor_to_array(tensor, field="x")
        assert back.dtype == array.dtype and back.shape == (2, 3, 4)
        np.testing.assert_array_equal(back, array)
    # Big-endian input is written little-endian.
    tensor = convert.array_to_tensor(np.array([1.5, 2.5], dtype=">f8"))
    assert tensor.data == np.array([1.5, 2.5], dtype="<f8").tobytes()


@pytest.mark.parametrize(
    ("tensor", "kwargs", "message"),
    [
        (pb.Tensor(shape=[2], data=b"\0" * 8), {}, r"^x\.dtype: unset; expected DTYPE_FLOAT32"),
        (
            pb.Tensor(dtype=common_pb2.DTYPE_FLOAT32, shape=[2, 3], data=b"\0" * 20),
            {},
            r"^x\.data: expected 24 bytes \(shape \[2, 3\] of DTYPE_FLOAT32, 4 bytes each\), got 20$",
        ),
        (
            pb.Tensor(dtype=common_pb2.DTYPE_INT8, shape=[1], data=b"\0"),
            {"dtypes": (np.float32,)},
            r"^x\.dtype: expected DTYPE_FLOAT32, got DTYPE_INT8$",
        ),
        (
            pb.Tensor(dtype=common_pb2.DTYPE_UINT8, shape=[-1], data=b""),
            {},
            r"^x\.shape: expected extents >= 0",
        ),
        (
            pb.Tensor(dtype=common_pb2.DTYPE_UINT8, shape=[2], data=b"\0\0"),
            {"ndim": 3},
            r"^x\.shape: expected 3 axes",
        ),
        (
            convert.array_to_tensor(np.array([1.0, np.nan], np.float32)),
            {"finite": True},
            r"^x\.data: expected finite values, got nan at \(1,\)$",
        ),
    ],
)
def test_tensor_validation_names_the_field(tensor, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        convert.tensor_to_array(tensor, field="x", **kwargs)


def test_motif_conversion_and_field_errors():
    pwm = np.array([[0.7, 0.1, 0.1, 0.1], [0.0, 0.0, 1.0, 0.0]])
    message = pb.Motif(id="m1", name="M", pwm=convert.array_to_tensor(pwm))
    motif = convert.motif_from_proto(message, field="motifs[0]")
    assert (motif.motif_id, motif.name, motif.consensus) == ("m1", "M", "AG")
    assert convert.motif_from_proto(convert.motif_to_proto(motif), field="m") == motif

    wrong_shape = pb.Motif(id="m", pwm=convert.array_to_tensor(np.full((3, 5), 0.2)))
    with pytest.raises(
        InvalidInputError, match=r"^motifs\[2\]\.pwm: expected shape \(W, 4\), W >= 1, got \(3, 5\)$"
    ):
        convert.motif_from_proto(wrong_shape, field="motifs[2]")
    bad_row = pb.Motif(id="m", pwm=convert.array_to_tensor(np.array([[0.5, 0.5, 0.5, 0.5]])))
    with pytest.raises(
        InvalidInputError, match=r"^motifs\[1\]\.pwm row 0: expected probabilities summing to 1"
    ):
        convert.motif_from_proto(bad_row, field="motifs[1]")
    with pytest.raises(InvalidInputError, match=r"^motifs\[0\]\.id: expected a non-empty id"):
        convert.motif_from_proto(pb.Motif(id="a b", pwm=message.pwm), field="motifs[0]")
    with pytest.raises(
        InvalidInputError, match=r"^motifs\[1\]\.id: duplicate id 'm1' \(first at motifs\[0\]\)"
    ):
        convert.motifs_from_proto([message, message], field="motifs")
    with pytest.raises(InvalidInputError, match=r"^motifs: expected at least one motif"):
        convert.motifs_from_proto([], field="motifs")


def test_sequences_to_onehot_all_forms():
    X = convert.sequences_to_onehot(
        pb.Sequences(strings=pb.SequenceList(sequences=["ACGN", "tttt"])), field="s"
    )
    assert X.shape == (2, 4, 4) and X.dtype == np.float32
    np.testing.assert_array_equal(X[0], [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]])
    same = convert.sequences_to_onehot(pb.Sequences(one_hot=convert.array_to_tensor(X)), field="s")
    np.testing.assert_array_equal(same, X)

    calls = []

    def load_split(dataset_id, split, offset, limit):
        calls.append((dataset_id, split, offset, limit))
        return X[offset:]

    dataset_id = "ds-" + "0" * 32
    ref = pb.Sequences(dataset_split=pb.DatasetSplitRef(dataset_id=dataset_id, offset=1))
    loaded = convert.sequences_to_onehot(ref, field="s", load_split=load_split)
    assert calls == [(dataset_id, "test", 1, 0)] and loaded.shape == (1, 4, 4)

    with pytest.raises(
        InvalidInputError, match=r"^s\.dataset_split: this service does not read stored data sets"
    ):
        convert.sequences_to_onehot(ref, field="s")
    bad_id = pb.Sequences(dataset_split=pb.DatasetSplitRef(dataset_id="../etc"))
    with pytest.raises(
        InvalidInputError, match=r"^s\.dataset_split\.dataset_id: '\.\./etc' is not a valid id"
    ):
        convert.sequences_to_onehot(bad_id, field="s", load_split=load_split)
    with pytest.raises(
        InvalidInputError, match=r"^s\.strings\.sequences\[1\]: invalid character 'X' at position 2"
    ):
        convert.sequences_to_onehot(
            pb.Sequences(strings=pb.SequenceList(sequences=["ACGT", "ACXT"])), field="s"
        )
    with pytest.raises(InvalidInputError, match=r"^s\.one_hot: expected shape \(N, L, 4\), got \(4, 4\)"):
        convert.sequences_to_onehot(pb.Sequences(one_hot=convert.array_to_tensor(X[0])), field="s")
    with pytest.raises(InvalidInputError, match=r"^s: expected one of strings, one_hot or dataset_split"):
        convert.sequences_to_onehot(pb.Sequences(), field="s")


def test_json_formatter_writes_one_object_per_line():
    record = logging.makeLogRecord({"name": "x", "levelname": "INFO", "msg": "hello %s", "args": ("world",)})
    record.method = "/a.B/C"
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.load(io.StringIO(line))
    assert (entry["message"], entry["level"], entry["method"]) == ("hello world", "INFO", "/a.B/C")
    assert "ValueError: boom" in entry["exception"]


def test_undecodable_request_bytes_are_invalid_argument_not_internal(probe):
    running, stub, servicer = probe
    get_job_raw = running.channel().unary_unary(
        f"/{SERVICE}/GetJob", request_serializer=None, response_deserializer=None
    )
    for payload in (
        b"\x0a\x02\xff\xfe",  # job_id (field 1) with invalid UTF-8
        b"\x0a\x7f\x41",  # a length running past the end
        b"\xff\xff\xff",  # no valid tag at all
    ):
        error = rpc_error(get_job_raw, payload, timeout=30)
        assert error.code() == Code.INVALID_ARGUMENT, payload
        assert error.details().startswith("request: not a valid protobuf message")
    assert stub.GetJob(get_job("fine"), timeout=30).job.job_id == "fine"


class _RecordingContext(_ExpiredContext):
    """An active context that records the status the interceptor aborts with."""

    def time_remaining(self) -> float:
        return 30.0

    def abort_with_status(self, status):
        self.aborted = (status.code, status.details)
        raise RuntimeError("aborted")


def test_error_interceptor_cuts_huge_messages():
    def behavior(request, context):
        raise InvalidInputError("name: " + "x" * 20000)

    context = _RecordingContext()
    with pytest.raises(RuntimeError, match="aborted"):
        ErrorInterceptor().around_unary("/x.Y/Z", behavior, None, context)
    code, details = context.aborted
    assert code == Code.INVALID_ARGUMENT
    assert len(details) < 1100 and details.endswith("(message cut at 1000 characters)")
