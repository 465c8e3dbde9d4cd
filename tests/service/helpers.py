"""Shared helpers for the service tests: in-process servers on loopback port 0, channels, stubs.

pytest puts ``tests/service`` on ``sys.path`` (the folder has no ``__init__.py``), so
test modules import these as ``from helpers import running_server, rpc_error``.
Typical use::

    with running_server(lambda s: add_to_server(servicer, s), service_name=SERVICE_NAME,
                        store=store) as running:
        stub = MotifMatchServiceStub(running.channel())
        error = rpc_error(stub.Compare, request)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT

``running_server`` waits until health reports SERVING (so the store answered), and
on exit closes the channels it made and stops the server with a short grace.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import urllib.request
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.config import Settings
from services.common.metrics import ServiceMetrics
from services.common.server import Server, create_server


def make_settings(service: str = "motifmatch", **overrides) -> Settings:
    """Settings for a test server: loopback, any free port, no metrics port, 4 workers, 1 s grace."""
    base = Settings(
        service=service,
        host="127.0.0.1",
        port=0,
        metrics_port=None,
        store_url="",
        max_workers=4,
        grace_seconds=1.0,
        log_level="DEBUG",
    )
    return dataclasses.replace(base, **overrides)


class _CallDetails(
    namedtuple(
        "_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")
    ),
    grpc.ClientCallDetails,
):
    pass


class MetadataInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds fixed metadata (e.g. ``authorization: Bearer <token>``) to every call of a channel."""

    def __init__(self, metadata: Sequence[tuple[str, str]]) -> None:
        self._metadata = tuple(metadata)

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        return _CallDetails(
            details.method,
            details.timeout,
            tuple(details.metadata or ()) + self._metadata,
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        return continuation(self._details(client_call_details), request_iterator)

    def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return continuation(self._details(client_call_details), request_iterator)


def make_channel(
    port: int,
    *,
    host: str = "127.0.0.1",
    token: str | None = None,
    max_message_bytes: int | None = None,
    credentials: grpc.ChannelCredentials | None = None,
    server_name: str | None = None,
) -> grpc.Channel:
    """A channel to ``host:port``; with ``token``, every call carries ``authorization: Bearer <token>``.

    ``credentials`` makes it a TLS channel (``server_name`` overrides the name checked
    against the certificate); ``max_message_bytes`` raises the client's limits.
    """
    options = []
    if max_message_bytes is not None:
        options += [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
        ]
    if server_name is not None:
        options.append(("grpc.ssl_target_name_override", server_name))
    target = f"{host}:{port}"
    if credentials is not None:
        channel = grpc.secure_channel(target, credentials, options=options)
    else:
        channel = grpc.insecure_channel(target, options=options)
    if token is not None:
        channel = grpc.intercept_channel(channel, MetadataInterceptor([("authorization", f"Bearer {token}")]))
    return channel


def health_status(channel: grpc.Channel, service: str = "", *, timeout: float = 5.0) -> int:
    """``HealthCheckResponse.status`` of ``service`` ("" = the whole server)."""
    stub = health_pb2_grpc.HealthStub(channel)
    return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout).status


def wait_for_serving(channel: grpc.Channel, service: str = "", *, timeout: float = 30.0) -> None:
    """Poll health Check until SERVING; AssertionError naming the last status after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = health_status(channel, service, timeout=1.0)
            if last == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.RpcError as error:
            last = error.code()
        time.sleep(0.05)
    raise AssertionError(f"health of {service!r} not SERVING after {timeout} s; last: {last}")


def rpc_error(method: Callable, *args, **kwargs) -> grpc.RpcError:
    """Call a stub method expecting it to fail; return the RpcError (``.code()``, ``.details()``).

    For a server-streaming method the stream is consumed, so errors raised mid-stream count.
    """
    try:
        result = method(*args, **kwargs)
        if hasattr(result, "__next__"):  # a response stream
            list(result)
    except grpc.RpcError as error:
        return error
    raise AssertionError(f"{getattr(method, '_method', method)!r} succeeded; expected an RpcError")


def scrape_metrics(port: int, host: str = "127.0.0.1") -> str:
    """GET http://host:port/metrics as text."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as response:  # noqa: S310
        return response.read().decode()


@dataclass
class RunningServer:
    """A started in-process server and the channels made to it.

    Attributes
    ----------
    server : Server
    port : int
    settings : Settings
    """

    server: Server
    port: int
    settings: Settings
    _channels: list[grpc.Channel] = field(default_factory=list)

    @property
    def metrics(self) -> ServiceMetrics:
        """The server's metrics object."""
        return self.server.metrics

    def channel(self, **kwargs) -> grpc.Channel:
        """A new channel to the server (see :func:`make_channel`); closed when the server stops."""
        channel = make_channel(self.port, host=self.settings.host, **kwargs)
        self._channels.append(channel)
        return channel


@contextlib.contextmanager
def running_server(
    register: Callable[[grpc.Server], None],
    *,
    service_name: str | Sequence[str],
    settings: Settings | None = None,
    store=None,
    metrics: ServiceMetrics | None = None,
    wait_serving: bool = True,
    grace: float = 0.5,
) -> Iterator[RunningServer]:
    """Start a server in this process on loopback port 0; stop it on exit.

    Parameters
    ----------
    register, service_name, store, metrics
        As for :func:`services.common.server.create_server`.
    settings : Settings, optional
        Default :func:`make_settings` for the service ``"motifmatch"``.
    wait_serving : bool, default True
        Wait until health reports SERVING before yielding. Needs a token-free
        health check, which every server offers.
    grace : float, default 0.5
        Grace of the final stop, seconds.
    """
    settings = settings or make_settings()
    if wait_serving and settings.tls:
        raise ValueError("wait_serving: health is checked over plaintext; pass wait_serving=False with TLS")
    server, port = create_server(settings, register, service_name=service_name, store=store, metrics=metrics)
    server.start()
    running = RunningServer(server=server, port=port, settings=settings)
    try:
        if wait_serving:
            wait_for_serving(running.channel())
        yield running
    finally:
        for channel in running._channels:
            channel.close()
        server.stop(grace)
