"""Prometheus metrics of one server, in a registry of its own.

Each server builds one :class:`ServiceMetrics`; it owns an explicit
``CollectorRegistry``, so creating several servers in one process (tests) never
collides and nothing touches ``prometheus_client``'s global registry. The server
interceptor records every call; servicers receive the same object and update
the domain metrics (jobs by state, sequences attributed).

Metrics (``grpc_service`` is the full proto service name, e.g.
``motiflens.v1.MotifMatchService``; ``grpc_method`` the RPC name, e.g. ``Compare``):

- ``motiflens_grpc_requests_total{grpc_service, grpc_method, grpc_code}``: finished calls
  by status code name (``OK``, ``INVALID_ARGUMENT``, ...).
- ``motiflens_grpc_request_duration_seconds{grpc_service, grpc_method}``: latency
  histogram, from the call reaching the interceptors to its last message.
- ``motiflens_grpc_requests_in_flight{grpc_service, grpc_method}``: calls running now.
- ``motiflens_jobs{state}``: jobs by state (set by the trainer).
- ``motiflens_sequences_attributed_total{method}``: sequences attributed, by
  attribution method (incremented by the interpreter).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import start_http_server

from services.common.errors import PortUnavailableError

#: Latency buckets (seconds): sub-millisecond lookups up to ten-minute training RPCs.
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600)


def split_method(full_method: str) -> tuple[str, str]:
    """``"/pkg.Service/Method"`` -> ``("pkg.Service", "Method")`` (``("unknown", name)`` if malformed)."""
    parts = full_method.strip("/").split("/")
    if len(parts) == 2 and all(parts):
        return parts[0], parts[1]
    return "unknown", full_method


class ServiceMetrics:
    """The metrics of one server and the registry that holds them.

    Parameters
    ----------
    registry : CollectorRegistry, optional
        Default: a new registry (never the global one).

    Attributes
    ----------
    registry : CollectorRegistry
    requests : Counter
        ``motiflens_grpc_requests_total`` by grpc_service, grpc_method, grpc_code.
    latency : Histogram
        ``motiflens_grpc_request_duration_seconds`` by grpc_service, grpc_method.
    in_flight : Gauge
        ``motiflens_grpc_requests_in_flight`` by grpc_service, grpc_method.
    jobs : Gauge
        ``motiflens_jobs`` by state; prefer :meth:`set_jobs`.
    sequences_attributed : Counter
        ``motiflens_sequences_attributed_total`` by method; prefer :meth:`add_sequences_attributed`.
    rejected : Counter
        ``motiflens_rejected_calls_total`` by reason (calls, streams: over the limit;
        shutdown: arrived while draining).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "motiflens_grpc_requests",
            "Finished gRPC calls by service, method and status code.",
            ["grpc_service", "grpc_method", "grpc_code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "motiflens_grpc_request_duration_seconds",
            "gRPC call latency in seconds, by service and method.",
            ["grpc_service", "grpc_method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "motiflens_grpc_requests_in_flight",
            "gRPC calls being handled now.",
            ["grpc_service", "grpc_method"],
            registry=self.registry,
        )
        self.jobs = Gauge("motiflens_jobs", "Jobs by state.", ["state"], registry=self.registry)
        self.sequences_attributed = Counter(
            "motiflens_sequences_attributed",
            "Sequences attributed, by attribution method.",
            ["method"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "motiflens_rejected_calls",
            "Calls refused before their handler ran, by reason (calls, streams, shutdown).",
            ["reason"],
            registry=self.registry,
        )

    # ---- called by the server interceptor
    def call_rejected(self, reason: str) -> None:
        """Count a call refused by admission control (``reason``: calls, streams or shutdown)."""
        self.rejected.labels(reason).inc()

    def call_started(self, full_method: str) -> None:
        """Count a call as in flight."""
        self.in_flight.labels(*split_method(full_method)).inc()

    def call_finished(self, full_method: str, code_name: str, seconds: float) -> None:
        """Record a finished call: its status code name (e.g. ``"OK"``) and duration in seconds."""
        service, method = split_method(full_method)
        self.in_flight.labels(service, method).dec()
        self.requests.labels(service, method, code_name).inc()
        self.latency.labels(service, method).observe(seconds)

    # ---- hooks for servicers
    def set_jobs(self, counts: Mapping[str, int]) -> None:
        """Set the job gauge, e.g. ``{"RUNNING": 2, "QUEUED": 0}`` (states not given are left alone)."""
        for state, count in counts.items():
            self.jobs.labels(state).set(count)

    def add_sequences_attributed(self, count: int, *, method: str) -> None:
        """Add ``count`` (>= 0) sequences attributed with ``method`` (e.g. ``"saliency"``)."""
        if count < 0:
            raise ValueError(f"count: expected >= 0, got {count}")
        self.sequences_attributed.labels(method).inc(count)

    # ---- exposition
    def exposition(self) -> bytes:
        """The registry in the Prometheus text format, as ``/metrics`` serves it."""
        return generate_latest(self.registry)

    def start_http_server(self, host: str, port: int) -> MetricsHttpServer:
        """Serve ``/metrics`` on ``host:port`` (0 = any free port) from a daemon thread.

        Returns
        -------
        MetricsHttpServer
            Holds the bound port; call :meth:`MetricsHttpServer.close` to stop it.

        Raises
        ------
        PortUnavailableError
            The port cannot be bound (the message names it).
        """
        try:
            httpd, thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as error:  # e.g. EADDRINUSE, which names no port by itself
            raise PortUnavailableError(
                f"cannot bind the metrics port {host}:{port}: {error.strerror or error}"
            ) from error
        return MetricsHttpServer(httpd, thread)


class MetricsHttpServer:
    """A running ``/metrics`` endpoint.

    Attributes
    ----------
    port : int
        The bound port.
    """

    def __init__(self, httpd: WSGIServer, thread: threading.Thread) -> None:
        self._httpd = httpd
        self._thread = thread
        self.port: int = int(httpd.server_port)

    def close(self) -> None:
        """Stop serving and release the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
