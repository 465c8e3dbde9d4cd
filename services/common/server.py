"""gRPC server bootstrap shared by the three services.

:func:`create_server` builds a server that is ready to start; :func:`serve` is
the process main loop around it. Every server has:

- a thread-pool ``grpc.server`` (``Settings.max_workers`` handler threads) with
  the message-size limit of ``Settings.max_message_bytes`` in both directions;
  grpc itself rejects a larger request with RESOURCE_EXHAUSTED;
- the four interceptors of :mod:`services.common.interceptors`, outermost first:
  observability (log line, metrics, request id), authentication (when
  ``Settings.token`` is set), admission (call, stream and watcher limits; refusal
  once shutdown begins) and errors and deadlines (exceptions to status codes);
  health checking and reflection bypass all four;
- ``grpc.health.v1.Health``: ``""`` and every service name (readiness) are
  NOT_SERVING until the artifact store answers ``ping()`` (retried with back-off in
  a background thread), then SERVING, and NOT_SERVING again while a later check
  (every :data:`STORE_CHECK_SECONDS`) fails; ``liveness`` is SERVING while the
  process serves, whatever the store (the liveness probe's name, so a store outage
  takes pods out of the Service without restarting them); all NOT_SERVING for good
  once shutdown begins;
- a warm-up hook (``warm_up``): run in a background thread when the server starts, and
  readiness stays NOT_SERVING until it returns (``liveness`` is SERVING meanwhile, so a
  warming pod is not restarted). A warm-up that raises, or is still running after
  ``warm_up_timeout`` seconds (:data:`WARM_UP_TIMEOUT_SECONDS`), logs a warning and the
  server turns ready anyway and serves cold: the first calls then load what they need;
- server reflection for the service names, health and reflection itself;
- TLS when ``Settings.tls_cert``/``tls_key`` are set.

Why a thread pool and not ``grpc.aio`` (which STYLE.md sketches): the handlers
are CPU-bound TensorFlow and numpy calls (attribution, Tomtom, model loading)
that release the GIL in their kernels. On an event loop each would block every
other call unless pushed to an executor anyway; the sync server runs them on
its pool directly and keeps servicers plain functions. What an event loop would
buy — streams that wait for hours without a thread — comes from grpc's non-blocking
stream handlers instead (:func:`services.common.interceptors.watch_handler`, used by
WatchJob).

The names that lived here before the split (interceptors, thread-free stream helpers,
logging) are re-exported, so ``services.common.server.<name>`` imports keep working.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from types import FrameType
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.config import Settings
from services.common.errors import PortUnavailableError
from services.common.interceptors import (
    MAX_ERROR_CHARS,
    REQUEST_ID_KEY,
    AdmissionInterceptor,
    AuthInterceptor,
    ErrorInterceptor,
    ObservabilityInterceptor,
    SendResponse,
    end_stream_with_error,
    is_infrastructure,
    watch_handler,
    when_call_ends,
)
from services.common.logging import JsonFormatter, RequestIdFilter, configure_logging, current_request_id
from services.common.metrics import ServiceMetrics

__all__ = [
    "LIVENESS_SERVICE",
    "MAX_ERROR_CHARS",
    "REQUEST_ID_KEY",
    "STORE_CHECK_SECONDS",
    "SWITCH_INTERVAL_SECONDS",
    "AdmissionInterceptor",
    "AuthInterceptor",
    "ErrorInterceptor",
    "JsonFormatter",
    "ObservabilityInterceptor",
    "Register",
    "RequestIdFilter",
    "SendResponse",
    "Server",
    "WARM_UP_TIMEOUT_SECONDS",
    "WarmUp",
    "caller_gone",
    "configure_logging",
    "create_server",
    "current_request_id",
    "end_stream_with_error",
    "is_infrastructure",
    "serve",
    "watch_handler",
    "when_call_ends",
]

logger = logging.getLogger(__name__)

#: Health service name that is SERVING while the process runs (the liveness probe's);
#: "" and the service names are readiness and follow the artifact store.
LIVENESS_SERVICE = "liveness"
#: GIL switch interval of a serving process, seconds (Python's default is 0.005).
SWITCH_INTERVAL_SECONDS = 0.001
#: Seconds between store checks once the store has answered.
STORE_CHECK_SECONDS = 5.0
#: A client connection's lifetime, seconds, before the server asks the client to reconnect
#: (gRPC adds +-10 % jitter); see the option in :func:`create_server`.
MAX_CONNECTION_AGE_SECONDS = 300

Register = Callable[[grpc.Server], None]
#: ``warm_up()``: loads what the first calls would otherwise wait for; readiness waits for it.
WarmUp = Callable[[], None]
#: Seconds readiness waits for a warm-up before the server serves cold anyway (with a
#: warning): below the launcher's 120 s wait for SERVING and the 300 s deploy/'s
#: startupProbe allows, so a stuck warm-up neither fails `motiflens up` nor gets a pod
#: restarted in a loop. memelite's cold numba compile (motifmatch) takes 45-75 s on 2 cores.
WARM_UP_TIMEOUT_SECONDS = 100.0


class Server:
    """A motiflens gRPC server: the grpc server plus health, readiness and metrics.

    Built by :func:`create_server`; :meth:`start` it, then :meth:`stop` it.

    Attributes
    ----------
    port : int
        The bound gRPC port.
    metrics : ServiceMetrics
    health : grpc_health.v1.health.HealthServicer
    service_names : tuple of str
        Full proto names of the services registered by ``register``.
    grpc_server : grpc.Server
    """

    def __init__(
        self,
        grpc_server: grpc.Server,
        *,
        port: int,
        health_servicer: health.HealthServicer,
        service_names: tuple[str, ...],
        metrics: ServiceMetrics,
        store: Any | None,
        grace_seconds: float,
        admission: AdmissionInterceptor | None = None,
        store_check_seconds: float = STORE_CHECK_SECONDS,
        warm_up: WarmUp | None = None,
        warm_up_timeout: float = WARM_UP_TIMEOUT_SECONDS,
    ) -> None:
        self.grpc_server = grpc_server
        self.port = port
        self.health = health_servicer
        self.service_names = service_names
        self.metrics = metrics
        self.admission = admission
        self._store = store
        self._grace_seconds = grace_seconds
        self._store_check_seconds = store_check_seconds
        self._stopping = threading.Event()
        self._readiness: threading.Thread | None = None
        # Readiness = the store answered (always, without a store) and the warm-up is over
        # (done, failed or overdue); _ready_lock orders the two threads that change them.
        self._warm_up = warm_up
        self._warm_up_timeout = warm_up_timeout
        self._ready_lock = threading.Lock()
        self._store_ok = False
        self._warm_up_over = threading.Event()
        self._ready: bool | None = None
        self._warm_up_timer: threading.Timer | None = None

    def start(self) -> None:
        """Start serving; health turns SERVING once the store answers (at once without a store).

        ``liveness`` turns SERVING at once and stays so until shutdown; the readiness
        statuses (``""`` and the service names) follow the store: NOT_SERVING while it
        cannot be reached, checked every ``store_check_seconds``; with a ``warm_up``, also
        NOT_SERVING until the warm-up is over (see the module docstring).
        """
        self.grpc_server.start()
        self.health.set(LIVENESS_SERVICE, health_pb2.HealthCheckResponse.SERVING)
        if self._warm_up is None:
            self._warm_up_over.set()
        else:
            threading.Thread(
                target=self._run_warm_up, args=(self._warm_up,), name="warm-up", daemon=True
            ).start()
            self._warm_up_timer = threading.Timer(self._warm_up_timeout, self._warm_up_overdue)
            self._warm_up_timer.daemon = True
            self._warm_up_timer.start()
        if self._store is None:
            self._store_answered(True)
        else:
            self._readiness = threading.Thread(
                target=self._watch_store, args=(self._store,), name="store-readiness", daemon=True
            )
            self._readiness.start()

    @property
    def warming(self) -> bool:
        """Whether readiness still waits for the warm-up."""
        return not self._warm_up_over.is_set()

    def _run_warm_up(self, warm_up: WarmUp) -> None:
        """The warm-up thread: run it, log how it went, then let readiness follow the store alone."""
        started = time.perf_counter()
        try:
            warm_up()
        except Exception:  # noqa: BLE001 - a failed warm-up must not keep the server unready
            logger.warning(
                "warm-up failed after %.1f s; serving cold (the first calls load what they need)",
                time.perf_counter() - started,
                exc_info=True,
            )
        else:
            logger.info("warm-up done in %.1f s", time.perf_counter() - started)
        finally:
            if self._warm_up_timer is not None:
                self._warm_up_timer.cancel()
            self._end_warm_up()

    def _warm_up_overdue(self) -> None:
        if not self._warm_up_over.is_set():
            logger.warning(
                "warm-up still running after %.0f s; serving cold meanwhile (the first calls may be slow)",
                self._warm_up_timeout,
            )
            self._end_warm_up()

    def _end_warm_up(self) -> None:
        with self._ready_lock:
            self._warm_up_over.set()
            self._update_readiness()

    def _store_answered(self, answered: bool) -> None:
        with self._ready_lock:
            self._store_ok = answered
            self._update_readiness()

    def _update_readiness(self) -> None:
        """Set readiness from the store and warm-up states when it changes (hold ``_ready_lock``)."""
        ready = self._store_ok and self._warm_up_over.is_set()
        if ready != self._ready and not self._stopping.is_set():
            self._ready = ready
            self._set_ready(ready)

    def _set_ready(self, ready: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", *self.service_names):
            self.health.set(name, status)
        logger.info(
            "health: %s", "SERVING" if ready else "NOT_SERVING", extra={"services": list(self.service_names)}
        )

    def _watch_store(self, store: Any, first_delay: float = 0.1, max_delay: float = 5.0) -> None:
        """Readiness follows the store: retried with back-off until it answers, then re-checked."""
        delay = first_delay
        attempt = 0
        ready = False
        while not self._stopping.is_set():
            try:
                store.ping()
            except Exception as error:  # noqa: BLE001 - any failure means "not ready"
                attempt += 1
                if ready:
                    ready = False
                    self._store_answered(False)
                if attempt == 1 or attempt % 10 == 0:
                    logger.warning(
                        "artifact store not reachable (attempt %d): %s",
                        attempt,
                        error,
                        extra={"store": getattr(store, "url", None)},
                    )
                self._stopping.wait(delay)
                delay = min(delay * 2, max_delay)
                continue
            attempt, delay = 0, first_delay
            if not ready and not self._stopping.is_set():
                ready = True
                self._store_answered(True)
            self._stopping.wait(self._store_check_seconds)

    @property
    def serving(self) -> bool:
        """Whether health reports SERVING for the overall server ("")."""
        request = health_pb2.HealthCheckRequest(service="")
        # Check only reads a dict under a lock; no RPC is made.
        return self.health.Check(request, None).status == health_pb2.HealthCheckResponse.SERVING

    def stop(self, grace: float | None = None) -> None:
        """Graceful shutdown: health NOT_SERVING, refuse new calls, let in-flight ones finish.

        Parameters
        ----------
        grace : float, optional
            Seconds in-flight calls get before they are cancelled; default
            ``Settings.grace_seconds``. Blocks until the server has stopped.
        """
        grace = self._grace_seconds if grace is None else grace
        self.begin_draining()
        self._stopping.set()
        if self._warm_up_timer is not None:
            self._warm_up_timer.cancel()
        self.health.enter_graceful_shutdown()
        logger.info("shutting down: health NOT_SERVING, draining for up to %.1f s", grace)
        self.grpc_server.stop(grace).wait()
        if self._readiness is not None:
            self._readiness.join(timeout=1)
        logger.info("server stopped")

    def begin_draining(self) -> None:
        """Refuse every new call from now on (the first step of shutdown; safe in a signal handler)."""
        if self.admission is not None:
            self.admission.begin_draining()

    @property
    def draining(self) -> bool:
        """Whether shutdown has begun (new calls are refused)."""
        return self.admission is not None and self.admission.draining

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        """Block until the server stops (or ``timeout`` seconds pass); True if it stopped."""
        return self.grpc_server.wait_for_termination(timeout)


def caller_gone(context: grpc.ServicerContext) -> Callable[[], bool]:
    """A ``should_stop`` for long handlers: True once the caller cancelled or its deadline passed."""
    return lambda: not context.is_active() or context.time_remaining() <= 0


def create_server(
    settings: Settings,
    register: Register,
    *,
    service_name: str | Sequence[str],
    store: Any | None = None,
    metrics: ServiceMetrics | None = None,
    warm_up: WarmUp | None = None,
    warm_up_timeout: float = WARM_UP_TIMEOUT_SECONDS,
) -> tuple[Server, int]:
    """Build a motiflens server bound to ``settings.host:settings.port``, not yet started.

    Parameters
    ----------
    settings : Settings
        Host, port (0 = any free port), token, TLS files, message limit, workers, grace.
    register : callable
        ``register(grpc_server)`` adds the servicers, e.g.
        ``lambda s: motifmatch_pb2_grpc.add_MotifMatchServiceServicer_to_server(servicer, s)``.
    service_name : str or sequence of str
        Full proto name(s) of the registered services, e.g.
        ``"motiflens.v1.MotifMatchService"``: health statuses and reflection use them.
    store : ArtifactStore, optional
        Health stays NOT_SERVING until ``store.ping()`` succeeds; None = SERVING at start.
    metrics : ServiceMetrics, optional
        Default: a new one. Pass the object the servicers update.
    warm_up : callable, optional
        ``warm_up()`` runs in a background thread from :meth:`Server.start`; readiness
        stays NOT_SERVING until it returns, raises (logged, then served cold) or runs
        longer than ``warm_up_timeout`` seconds (default :data:`WARM_UP_TIMEOUT_SECONDS`).
        None = ready as soon as the store answers.

    Returns
    -------
    server : Server
    port : int
        The bound port (useful with port 0).

    Raises
    ------
    PortUnavailableError
        The address cannot be bound.
    """
    names = (service_name,) if isinstance(service_name, str) else tuple(service_name)
    metrics = metrics if metrics is not None else ServiceMetrics()
    admission = AdmissionInterceptor(
        settings.max_calls, settings.max_streams, metrics, max_watchers=settings.max_watchers
    )
    interceptors: list[grpc.ServerInterceptor] = [ObservabilityInterceptor(metrics)]
    if settings.token:
        interceptors.append(AuthInterceptor(settings.token))
    interceptors.extend((admission, ErrorInterceptor()))
    options = [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        # A port in use must fail loudly instead of being shared with another server.
        ("grpc.so_reuseport", 0),
        # Clients re-resolve the service name when a connection ends: closing each connection
        # after a few minutes (GOAWAY; calls in flight finish, with no grace limit) lets a
        # round_robin client see replicas the autoscaler added behind a headless Service.
        ("grpc.max_connection_age_ms", MAX_CONNECTION_AGE_SECONDS * 1000),
    ]
    grpc_server = grpc.server(
        futures.ThreadPoolExecutor(
            max_workers=settings.max_workers, thread_name_prefix=f"{settings.service}-rpc"
        ),
        interceptors=interceptors,
        options=options,
    )
    register(grpc_server)

    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    for name in ("", LIVENESS_SERVICE, *names):
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, grpc_server)
    reflection.enable_server_reflection((*names, health.SERVICE_NAME, reflection.SERVICE_NAME), grpc_server)

    address = settings.bind_address
    try:
        if settings.tls_cert is not None and settings.tls_key is not None:  # both or neither (Settings)
            credentials = grpc.ssl_server_credentials(
                [(settings.tls_key.read_bytes(), settings.tls_cert.read_bytes())]
            )
            port = grpc_server.add_secure_port(address, credentials)
        else:
            port = grpc_server.add_insecure_port(address)
    except RuntimeError as error:
        raise PortUnavailableError(f"cannot bind {address}: {error}") from error
    if not port:
        raise PortUnavailableError(f"cannot bind {address}")
    server = Server(
        grpc_server,
        port=port,
        health_servicer=health_servicer,
        service_names=names,
        metrics=metrics,
        store=store,
        grace_seconds=settings.grace_seconds,
        admission=admission,
        store_check_seconds=settings.store_check_seconds,
        warm_up=warm_up,
        warm_up_timeout=warm_up_timeout,
    )
    return server, port


# --------------------------------------------------------------------------- main loop


def serve(
    settings: Settings,
    register: Register,
    service_name: str | Sequence[str],
    store: Any | None = None,
    *,
    metrics: ServiceMetrics | None = None,
    warm_up: WarmUp | None = None,
) -> None:
    """Run a server until SIGTERM or SIGINT, then shut down gracefully.

    Configures JSON logging, starts ``/metrics`` on ``settings.host:settings.metrics_port``
    (unless off), starts the server, and on the first signal: health NOT_SERVING,
    refuse new calls, give in-flight calls ``settings.grace_seconds`` to finish,
    stop the metrics endpoint and return. Must run in the main thread (signals).

    Parameters
    ----------
    settings, register, service_name, store, metrics, warm_up
        As for :func:`create_server`.
    """
    configure_logging(settings.log_level)
    # A thread waiting for the GIL gets it after at most this long (default 5 ms): with
    # several CPU-bound handlers runnable, a health check then waits a few ms, not 100s.
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    server, port = create_server(
        settings, register, service_name=service_name, store=store, metrics=metrics, warm_up=warm_up
    )
    metrics_http = None
    if settings.metrics_port is not None:
        metrics_http = server.metrics.start_http_server(settings.host, settings.metrics_port)
    stop_requested = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        server.begin_draining()  # no call is admitted after the signal, even before stop() runs
        logger.info("received %s", signal.Signals(signum).name)
        stop_requested.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
        logger.info(
            "%s listening on %s:%d",
            settings.service,
            settings.host,
            port,
            extra={
                "port": port,
                "metrics_port": None if metrics_http is None else metrics_http.port,
                "tls": settings.tls,
                "auth": bool(settings.token),
                "store": getattr(store, "url", None),
            },
        )
        while not stop_requested.wait(1.0):
            pass
    finally:
        server.stop(settings.grace_seconds)
        if metrics_http is not None:
            metrics_http.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
