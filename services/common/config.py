"""Service settings, read once from the environment at startup.

Every service builds one frozen :class:`Settings` in ``main()`` with
``Settings.from_env("<service>")`` and passes it down; nothing else reads the
environment. A bad value stops the process at startup with a
:class:`ConfigError` whose message names the variable, the value and what is
accepted.

Environment variables (``<SERVICE>`` is ``TRAINER``, ``INTERPRETER`` or ``MOTIFMATCH``;
"trainer / interpreter / motifmatch" defaults are listed in that order):

================================== ======================= ====================================
variable                           default                 meaning
================================== ======================= ====================================
MOTIFLENS_HOST                     127.0.0.1               bind address of the gRPC and metrics
                                                           ports (0.0.0.0 in a container)
MOTIFLENS_<SERVICE>_PORT           50051 / 50052 / 50053   gRPC port; 0 = any free port
MOTIFLENS_<SERVICE>_METRICS_PORT   9101 / 9102 / 9103      Prometheus /metrics HTTP port;
                                                           0 = any free port, -1 = off
                                                           (the launcher's layout for another
                                                           base port: :func:`stack_ports`)
MOTIFLENS_STORE                    file URL of             artifact store: file:///path or
                                   ~/.motiflens/store      s3://bucket/prefix?endpoint=host:port
MOTIFLENS_TOKEN                    empty (no auth)         bearer token clients must send in
                                                           the ``authorization`` metadata
MOTIFLENS_TLS_CERT                 empty (plaintext)       PEM certificate chain file
MOTIFLENS_TLS_KEY                  empty (plaintext)       PEM private key file; both or neither
MOTIFLENS_MAX_MESSAGE_MB           64                      largest request or response, MiB
                                                           (1-2047)
MOTIFLENS_MAX_WORKERS              64                      RPC handler threads (4-1024)
MOTIFLENS_MAX_CALLS                24                      unary calls handled at once; more
                                                           get RESOURCE_EXHAUSTED at once
MOTIFLENS_MAX_STREAMS              16                      streaming calls (WatchJob, Attribute)
                                                           open at once; more get
                                                           RESOURCE_EXHAUSTED. Calls + streams
                                                           must leave >= 2 threads for health
MOTIFLENS_GRACE_SECONDS            10                      seconds in-flight calls get to finish
                                                           on SIGTERM/SIGINT (>= 0)
MOTIFLENS_MAX_COMPUTE              0 (= cores)             CPU-heavy handlers (Tomtom) computing
                                                           at once; the others wait asleep
MOTIFLENS_STORE_CHECK_SECONDS      5                       seconds between store checks once it
                                                           answered; readiness is NOT_SERVING
                                                           while a check fails (> 0)
MOTIFLENS_LOG_LEVEL                INFO                    DEBUG, INFO, WARNING, ERROR, CRITICAL
MOTIFLENS_MEMORY_BUDGET_MB         3072 / 2048 / 1024      memory that requests being served may
                                                           hold at once, MiB; each request
                                                           reserves its need, computed from its
                                                           declared shapes, before allocating
MOTIFLENS_INTERPRETER_CACHE        4                       interpreter only: models kept loaded
                                                           (1-1024)
MOTIFLENS_INTERPRETER_COALESCE     1                       interpreter only: 1 = concurrent
                                                           Predict/saliency/ISM calls of a model
                                                           share a pass (batching.py); 0 = each
                                                           call its own pass (to compare)
MOTIFLENS_S3_ACCESS_KEY            empty (AWS_* or none)   S3 credentials of an s3:// store
MOTIFLENS_S3_SECRET_KEY                                    (:func:`s3_credentials`); both or
                                                           neither, else AWS_ACCESS_KEY_ID /
                                                           AWS_SECRET_ACCESS_KEY, else anonymous
================================== ======================= ====================================

The trainer alone also reads these (:class:`JobSettings`, :class:`SweepSettings`,
:func:`max_upload_bytes_from_env`, :func:`sweep_index_from_env`, :class:`ModelFileSettings`):

================================== ======================= ====================================
variable                           default                 meaning
================================== ======================= ====================================
MOTIFLENS_TRAINER_CONCURRENCY      1                       worker processes, i.e. jobs trained
                                                           at once (1-64)
MOTIFLENS_TRAINER_QUEUE            16                      jobs pending or running at once;
                                                           more Train calls get
                                                           RESOURCE_EXHAUSTED (1-10000)
MOTIFLENS_STORE_RETRY_SECONDS      120                     how long a worker's store calls retry
                                                           through an outage (0-3600)
MOTIFLENS_TRAINER_MAX_RESUMES      3                       re-queues of one interrupted job
                                                           before it is FAILED (0-100)
MOTIFLENS_SWEEP_EXECUTOR           local                   local (worker processes) or
                                                           kubernetes (an Indexed Job per sweep)
MOTIFLENS_SWEEP_IMAGE              empty                   trainer image of sweep pods; required
                                                           by the kubernetes executor
MOTIFLENS_SWEEP_GPU_IMAGE          empty                   image of ``gpu`` sweeps' pods
MOTIFLENS_SWEEP_NAMESPACE          the pod's own           namespace of the sweeps' Jobs
MOTIFLENS_SWEEP_PARALLELISM        4                       sweep pods at once when a request
                                                           leaves it 0 (1-1000)
MOTIFLENS_SWEEP_MAX_CONFIGS        1000                    largest grid one Sweep may hold
                                                           (1-100000; the paper's Task 1 is 510)
MOTIFLENS_MAX_UPLOAD_MB            16384                   largest file one Upload may send, MiB
                                                           (1-1048576; streamed to disk, never
                                                           held in memory)
MOTIFLENS_IMPORT_MEMORY_MB         4096                    address space of the child process
                                                           that loads an imported model or
                                                           writes a SavedModel (1024-1048576)
MOTIFLENS_IMPORT_TIMEOUT_SECONDS   600                     how long that child may run (10-86400)
JOB_COMPLETION_INDEX               set by Kubernetes       a sweep pod's configuration index
================================== ======================= ====================================

The interpreter alone also reads these (:class:`DiscoveryLimits`):

================================== ======================= ====================================
variable                           default                 meaning
================================== ======================= ====================================
MOTIFLENS_DISCOVERY_MEMORY_MB      4096                    address space of the child process
                                                           that runs TF-MoDISco (1024-1048576);
                                                           a DiscoverMotifs call whose estimate
                                                           exceeds it is RESOURCE_EXHAUSTED
MOTIFLENS_DISCOVERY_TIMEOUT_SECONDS 1800                   how long that child may run (10-86400)
================================== ======================= ====================================
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Self
from urllib.parse import urlsplit

from motiflens_client.wire.vocabulary import DEFAULT_PORTS, PORT_OFFSETS

from motiflens.errors import InvalidInputError

#: The services' default metrics ports (their gRPC ports, DEFAULT_PORTS, are the wire
#: vocabulary's: one port layout for client and services).
DEFAULT_METRICS_PORTS: Mapping[str, int] = {"trainer": 9101, "interpreter": 9102, "motifmatch": 9103}

#: A stack launched on base port N (``motiflens up --base-port N``) serves /metrics on
#: N + 50, N + 51, N + 52; the default base (50051) keeps DEFAULT_METRICS_PORTS (see stack_ports).
METRICS_PORT_OFFSET = 50
#: Largest base port whose six ports (gRPC and metrics) all fit below 65536.
MAX_BASE_PORT = 65535 - METRICS_PORT_OFFSET - max(PORT_OFFSETS.values())

DEFAULT_HOST = "127.0.0.1"
DEFAULT_MAX_MESSAGE_MB = 64
DEFAULT_MAX_WORKERS = 64
DEFAULT_MAX_CALLS = 24
DEFAULT_MAX_STREAMS = 16
#: Thread-free watch streams (trainer WatchJob) open at once; each costs a few KiB.
DEFAULT_MAX_WATCHERS = 1024
#: Handler threads kept free of calls and streams, for health checks and reflection.
RESERVED_WORKERS = 2
DEFAULT_GRACE_SECONDS = 10.0
DEFAULT_LOG_LEVEL = "INFO"
#: Models the interpreter keeps loaded (its LRU cache).
DEFAULT_INTERPRETER_CACHE = 4
#: MiB of memory requests may hold at once, per service (well under deploy/'s limits:
#: trainer 8 GiB with its worker processes, interpreter 4 GiB, motifmatch 2 GiB).
DEFAULT_MEMORY_BUDGET_MB: Mapping[str, int] = {"trainer": 3072, "interpreter": 2048, "motifmatch": 1024}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# gRPC message limits are C ints: 2047 MiB is the largest whole number of MiB below 2**31.
MAX_MESSAGE_MB_LIMIT = 2047
STORE_SCHEMES = ("file", "s3")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


def default_store_url() -> str:
    """``file://`` URL of ``~/.motiflens/store`` for the current user (evaluated when called)."""
    return (Path.home() / ".motiflens" / "store").as_uri()


@dataclass(frozen=True)
class Settings:
    """Settings of one service process (see the module docstring for the variables).

    Attributes
    ----------
    service : str
        "trainer", "interpreter" or "motifmatch".
    host : str
        Bind address of the gRPC and metrics ports.
    port : int
        gRPC port, 0 = any free port.
    metrics_port : int or None
        Prometheus HTTP port, 0 = any free port, None = no metrics endpoint.
    store_url : str
        Artifact store URL.
    token : str
        Bearer token required from clients; empty = no authentication. Hidden from ``repr``.
    tls_cert, tls_key : Path or None
        PEM files; both set (TLS) or both None (plaintext).
    max_message_bytes : int
        Largest message the server sends or receives, bytes.
    max_workers : int
        RPC handler threads.
    max_calls : int
        Unary (non-streaming) calls handled at once, health and reflection not counted.
    max_streams : int
        Response-streaming calls open at once that compute their messages on a handler
        thread (attribution, scans).
    max_watchers : int
        Watch streams open at once (handlers that wait for events without a thread,
        such as the trainer's WatchJob).
    grace_seconds : float
        Seconds in-flight calls get to finish on shutdown.
    log_level : str
        Logging level name.
    store_check_seconds : float
        Seconds between readiness checks of the artifact store.
    max_compute : int
        CPU-heavy handlers computing at once (:class:`services.common.budget.ComputeSlots`).
    memory_budget_bytes : int
        Bytes that the requests being served may hold at once
        (:class:`services.common.budget.MemoryBudget`).
    interpreter_cache : int
        Models the interpreter keeps loaded (read for the interpreter only).
    interpreter_coalesce : bool
        Whether concurrent compatible calls of one model share a pass (interpreter only).
    """

    service: str
    host: str = DEFAULT_HOST
    port: int = 0
    metrics_port: int | None = None
    store_url: str = ""
    token: str = field(default="", repr=False)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_MB * 1024 * 1024
    max_workers: int = DEFAULT_MAX_WORKERS
    max_calls: int = DEFAULT_MAX_CALLS
    max_streams: int = DEFAULT_MAX_STREAMS
    max_watchers: int = DEFAULT_MAX_WATCHERS
    grace_seconds: float = DEFAULT_GRACE_SECONDS
    log_level: str = DEFAULT_LOG_LEVEL
    memory_budget_bytes: int = 1024 * 1024 * 1024
    store_check_seconds: float = 5.0
    max_compute: int = field(default_factory=lambda: os.cpu_count() or 1)
    interpreter_cache: int = DEFAULT_INTERPRETER_CACHE
    interpreter_coalesce: bool = True

    @property
    def tls(self) -> bool:
        """Whether the gRPC port serves TLS."""
        return self.tls_cert is not None

    @property
    def bind_address(self) -> str:
        """``host:port`` for ``add_insecure_port``/``add_secure_port`` (IPv6 hosts bracketed)."""
        return f"{_bracket(self.host)}:{self.port}"

    @classmethod
    def from_env(cls, service: str, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings of ``service`` from the environment.

        Parameters
        ----------
        service : str
            "trainer", "interpreter" or "motifmatch".
        environ : mapping, optional
            Variables to read instead of ``os.environ`` (for tests).

        Returns
        -------
        Settings

        Raises
        ------
        ConfigError
            Unknown service, or a variable with a bad value (the message names it).
        """
        if service not in DEFAULT_PORTS:
            raise ConfigError(f"service: expected one of {', '.join(DEFAULT_PORTS)}, got {service!r}")
        env = os.environ if environ is None else environ
        prefix = f"MOTIFLENS_{service.upper()}_"

        def get(name: str) -> str | None:
            value = env.get(name)
            return None if value is None or value.strip() == "" else value.strip()

        host = get("MOTIFLENS_HOST") or DEFAULT_HOST
        if any(c.isspace() for c in host) or "/" in host:
            raise ConfigError(f"MOTIFLENS_HOST: expected a host name or IP address, got {host!r}")
        port = parse_int_setting(
            get(prefix + "PORT"), prefix + "PORT", DEFAULT_PORTS[service], 0, 65535, "0 = any"
        )
        metrics_port = parse_int_setting(
            get(prefix + "METRICS_PORT"),
            prefix + "METRICS_PORT",
            DEFAULT_METRICS_PORTS[service],
            -1,
            65535,
            "0 = any, -1 = off",
        )
        store_url = store_url_setting(env)
        scheme = urlsplit(store_url).scheme
        if scheme not in STORE_SCHEMES:
            raise ConfigError(
                f"MOTIFLENS_STORE: expected a file:///path or s3://bucket/prefix?endpoint=host:port URL, "
                f"got {store_url!r}"
            )
        tls_cert = _path(get("MOTIFLENS_TLS_CERT"), "MOTIFLENS_TLS_CERT")
        tls_key = _path(get("MOTIFLENS_TLS_KEY"), "MOTIFLENS_TLS_KEY")
        if (tls_cert is None) != (tls_key is None):
            missing = "MOTIFLENS_TLS_KEY" if tls_key is None else "MOTIFLENS_TLS_CERT"
            raise ConfigError(
                f"{missing}: TLS needs both MOTIFLENS_TLS_CERT and MOTIFLENS_TLS_KEY, or neither"
            )
        max_message_mb = parse_int_setting(
            get("MOTIFLENS_MAX_MESSAGE_MB"),
            "MOTIFLENS_MAX_MESSAGE_MB",
            DEFAULT_MAX_MESSAGE_MB,
            1,
            MAX_MESSAGE_MB_LIMIT,
            "MiB",
        )
        max_workers = parse_int_setting(
            get("MOTIFLENS_MAX_WORKERS"), "MOTIFLENS_MAX_WORKERS", DEFAULT_MAX_WORKERS, 4, 1024
        )
        max_calls = parse_int_setting(
            get("MOTIFLENS_MAX_CALLS"),
            "MOTIFLENS_MAX_CALLS",
            min(DEFAULT_MAX_CALLS, max(1, (max_workers - RESERVED_WORKERS) // 2)),
            1,
            1024,
        )
        max_streams = parse_int_setting(
            get("MOTIFLENS_MAX_STREAMS"),
            "MOTIFLENS_MAX_STREAMS",
            min(DEFAULT_MAX_STREAMS, max(1, max_workers - max_calls - RESERVED_WORKERS)),
            1,
            1024,
        )
        if max_calls + max_streams > max_workers - RESERVED_WORKERS:
            raise ConfigError(
                f"MOTIFLENS_MAX_CALLS + MOTIFLENS_MAX_STREAMS: {max_calls} + {max_streams} must leave "
                f"{RESERVED_WORKERS} of the MOTIFLENS_MAX_WORKERS={max_workers} handler threads free for "
                "health checks; lower them or raise MOTIFLENS_MAX_WORKERS"
            )
        max_watchers = parse_int_setting(
            get("MOTIFLENS_MAX_WATCHERS"), "MOTIFLENS_MAX_WATCHERS", DEFAULT_MAX_WATCHERS, 1, 65536
        )
        grace_seconds = _seconds(get("MOTIFLENS_GRACE_SECONDS"), "MOTIFLENS_GRACE_SECONDS")
        log_level = (get("MOTIFLENS_LOG_LEVEL") or DEFAULT_LOG_LEVEL).upper()
        if log_level not in LOG_LEVELS:
            raise ConfigError(
                f"MOTIFLENS_LOG_LEVEL: expected one of {', '.join(LOG_LEVELS)}, "
                f"got {env.get('MOTIFLENS_LOG_LEVEL')!r}"
            )
        store_check_seconds = _seconds(
            get("MOTIFLENS_STORE_CHECK_SECONDS"), "MOTIFLENS_STORE_CHECK_SECONDS", 5.0
        )
        if store_check_seconds <= 0:
            raise ConfigError(
                f"MOTIFLENS_STORE_CHECK_SECONDS: expected seconds > 0, got {store_check_seconds}"
            )
        max_compute = parse_int_setting(
            get("MOTIFLENS_MAX_COMPUTE"), "MOTIFLENS_MAX_COMPUTE", 0, 0, 1024, "0 = one per core"
        ) or (os.cpu_count() or 1)
        memory_budget_mb = parse_int_setting(
            get("MOTIFLENS_MEMORY_BUDGET_MB"),
            "MOTIFLENS_MEMORY_BUDGET_MB",
            DEFAULT_MEMORY_BUDGET_MB[service],
            16,
            1024 * 1024,
            "MiB",
        )
        interpreter_cache = DEFAULT_INTERPRETER_CACHE
        if service == "interpreter":
            interpreter_cache = parse_int_setting(
                get("MOTIFLENS_INTERPRETER_CACHE"),
                "MOTIFLENS_INTERPRETER_CACHE",
                DEFAULT_INTERPRETER_CACHE,
                1,
                1024,
                "models kept loaded",
            )
        interpreter_coalesce = True
        if service == "interpreter":
            interpreter_coalesce = bool(
                parse_int_setting(
                    get("MOTIFLENS_INTERPRETER_COALESCE"),
                    "MOTIFLENS_INTERPRETER_COALESCE",
                    1,
                    0,
                    1,
                    "1 = share passes, 0 = one pass per call",
                )
            )
        return cls(
            service=service,
            host=host,
            port=port,
            metrics_port=None if metrics_port == -1 else metrics_port,
            store_url=store_url,
            token=env.get("MOTIFLENS_TOKEN", "").strip(),
            tls_cert=tls_cert,
            tls_key=tls_key,
            max_message_bytes=max_message_mb * 1024 * 1024,
            max_workers=max_workers,
            max_calls=max_calls,
            max_streams=max_streams,
            max_watchers=max_watchers,
            grace_seconds=grace_seconds,
            log_level=log_level,
            memory_budget_bytes=memory_budget_mb * 1024 * 1024,
            store_check_seconds=store_check_seconds,
            max_compute=max_compute,
            interpreter_cache=interpreter_cache,
            interpreter_coalesce=interpreter_coalesce,
        )


@dataclass(frozen=True)
class StackPort:
    """One port that a launched stack opens (:func:`stack_ports`).

    Attributes
    ----------
    service : str
        "trainer", "interpreter" or "motifmatch".
    kind : str
        "gRPC" or "metrics".
    port : int
        The port; a metrics port may be 0 (any free port, set in the environment).
    variable : str
        The environment variable that sets it, e.g. ``MOTIFLENS_TRAINER_METRICS_PORT``.
    from_env : bool
        Whether that variable set it (else it follows the base port).
    """

    service: str
    kind: str
    port: int
    variable: str
    from_env: bool

    @property
    def label(self) -> str:
        """E.g. "trainer metrics"."""
        return f"{self.service} {self.kind}"


def stack_ports(base_port: int, environ: Mapping[str, str] | None = None) -> list[StackPort]:
    """Every port a stack started on ``base_port`` opens: one layout for ``motiflens up`` and the launcher.

    gRPC: trainer ``base_port``, interpreter + 1, motifmatch + 2 (the wire vocabulary's
    PORT_OFFSETS). Metrics: ``base_port + 50``, + 51, + 52, except for the default base
    port 50051, whose metrics ports stay 9101, 9102, 9103 (what deploy/ and Prometheus
    scrape configurations expect). ``MOTIFLENS_<SERVICE>_PORT`` and
    ``MOTIFLENS_<SERVICE>_METRICS_PORT`` in ``environ`` win over the layout; a metrics
    port set to -1 (off) is left out.

    Parameters
    ----------
    base_port : int
        The trainer's gRPC port, 1 to :data:`MAX_BASE_PORT` (65483).
    environ : mapping, optional
        Variables to read instead of ``os.environ``.

    Returns
    -------
    list of StackPort
        Per service in PORT_OFFSETS order, its gRPC port then its metrics port.

    Raises
    ------
    ConfigError
        A base port out of range, a malformed variable, a gRPC port of 0 (the launcher
        must know every address) or two services given the same port.
    """
    if isinstance(base_port, bool) or not isinstance(base_port, int) or not 1 <= base_port <= MAX_BASE_PORT:
        raise ConfigError(
            f"--base-port: expected an integer from 1 to {MAX_BASE_PORT} (the stack opens it, the next "
            f"two and +{METRICS_PORT_OFFSET} to +{METRICS_PORT_OFFSET + 2} for metrics), got {base_port!r}"
        )
    env = os.environ if environ is None else environ
    default_base = base_port == DEFAULT_PORTS["trainer"]
    ports: list[StackPort] = []
    for service, offset in sorted(PORT_OFFSETS.items(), key=lambda item: item[1]):
        grpc_variable = f"MOTIFLENS_{service.upper()}_PORT"
        metrics_variable = f"MOTIFLENS_{service.upper()}_METRICS_PORT"
        grpc_raw = (env.get(grpc_variable) or "").strip() or None
        metrics_raw = (env.get(metrics_variable) or "").strip() or None
        grpc_port = parse_int_setting(
            grpc_raw,
            grpc_variable,
            base_port + offset,
            1,
            65535,
            "0 = any is not possible here: the launcher must know each address",
        )
        layout_metrics = (
            DEFAULT_METRICS_PORTS[service] if default_base else base_port + METRICS_PORT_OFFSET + offset
        )
        metrics_port = parse_int_setting(
            metrics_raw, metrics_variable, layout_metrics, -1, 65535, "0 = any, -1 = off"
        )
        ports.append(StackPort(service, "gRPC", grpc_port, grpc_variable, grpc_raw is not None))
        if metrics_port != -1:
            ports.append(
                StackPort(service, "metrics", metrics_port, metrics_variable, metrics_raw is not None)
            )
    claimed: dict[int, StackPort] = {}
    for port in ports:
        if port.port == 0:
            continue
        other = claimed.setdefault(port.port, port)
        if other is not port:
            raise ConfigError(
                f"port {port.port}: wanted by the {other.label} ({other.variable}) and the {port.label} "
                f"({port.variable}); give them different ports"
            )
    return ports


def s3_credentials(environ: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """S3 keys: MOTIFLENS_S3_ACCESS_KEY/_SECRET_KEY, else AWS_ACCESS_KEY_ID/_SECRET_ACCESS_KEY.

    Parameters
    ----------
    environ : mapping, optional
        Variables to read instead of ``os.environ``.

    Returns
    -------
    (access_key, secret_key)
        Both set, or both None (anonymous).

    Raises
    ------
    InvalidInputError
        Only one key of a pair is set.
    """
    env = os.environ if environ is None else environ
    for access_var, secret_var in (
        ("MOTIFLENS_S3_ACCESS_KEY", "MOTIFLENS_S3_SECRET_KEY"),
        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    ):
        access_key, secret_key = env.get(access_var), env.get(secret_var)
        if access_key or secret_key:
            if not (access_key and secret_key):
                raise InvalidInputError(f"S3 credentials: {access_var} and {secret_var} must be set together")
            return access_key, secret_key
    return None, None


def store_url_setting(environ: Mapping[str, str] | None = None) -> str:
    """MOTIFLENS_STORE (stripped), or :func:`default_store_url` when unset or blank; not validated."""
    env = os.environ if environ is None else environ
    return (env.get("MOTIFLENS_STORE") or "").strip() or default_store_url()


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def parse_int_setting(raw: str | None, name: str, default: int, low: int, high: int, note: str = "") -> int:
    """An integer setting from its raw text (None = unset → default); ConfigError names ``name``."""
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        extra = f" ({note})" if note else ""
        raise ConfigError(f"{name}: expected an integer from {low} to {high}{extra}, got {raw!r}")
    return value


def _seconds(raw: str | None, name: str, default: float = DEFAULT_GRACE_SECONDS) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{name}: expected a number of seconds >= 0, got {raw!r}")
    return value


def _path(raw: str | None, name: str) -> Path | None:
    if raw is None:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        raise ConfigError(f"{name}: expected a readable PEM file, got {raw!r} (no such file)")
    return path


# --------------------------------------------------------------------------- trainer jobs and sweeps

CONCURRENCY_ENV = "MOTIFLENS_TRAINER_CONCURRENCY"
QUEUE_ENV = "MOTIFLENS_TRAINER_QUEUE"
STORE_RETRY_ENV = "MOTIFLENS_STORE_RETRY_SECONDS"
MAX_RESUMES_ENV = "MOTIFLENS_TRAINER_MAX_RESUMES"
DEFAULT_CONCURRENCY = 1
DEFAULT_QUEUE_LIMIT = 16
#: Seconds a worker's store calls keep retrying through an outage, unless told otherwise.
DEFAULT_STORE_RETRY_SECONDS = 120
DEFAULT_MAX_RESUMES = 3

EXECUTORS = ("local", "kubernetes")
EXECUTOR_ENV = "MOTIFLENS_SWEEP_EXECUTOR"
IMAGE_ENV = "MOTIFLENS_SWEEP_IMAGE"
GPU_IMAGE_ENV = "MOTIFLENS_SWEEP_GPU_IMAGE"
NAMESPACE_ENV = "MOTIFLENS_SWEEP_NAMESPACE"
PARALLELISM_ENV = "MOTIFLENS_SWEEP_PARALLELISM"
MAX_CONFIGS_ENV = "MOTIFLENS_SWEEP_MAX_CONFIGS"
DEFAULT_PARALLELISM = 4
DEFAULT_MAX_CONFIGS = 1000
MAX_PARALLELISM = 1000
MAX_UPLOAD_ENV = "MOTIFLENS_MAX_UPLOAD_MB"
#: 16 GiB: an uncompressed human genome (3.1 GB) with room to spare.
DEFAULT_MAX_UPLOAD_MB = 16384
#: Set by Kubernetes in each pod of an Indexed Job: the pod's configuration index.
INDEX_ENV = "JOB_COMPLETION_INDEX"


@dataclass(frozen=True)
class JobSettings:
    """Settings of the trainer's job manager.

    Attributes
    ----------
    concurrency : int
        Worker processes, i.e. jobs trained at once (``MOTIFLENS_TRAINER_CONCURRENCY``,
        default 1, 1-64).
    queue_limit : int
        Most jobs pending or running in this manager (``MOTIFLENS_TRAINER_QUEUE``,
        default 16, 1-10000); ``Train`` beyond it is RESOURCE_EXHAUSTED.
    heartbeat_seconds : float
        Interval of the manager's heartbeat record (default 5); a manager silent for
        three intervals counts as gone.
    orphan_sweep_seconds : float
        Interval of the check for jobs of gone managers (default 60; also at start).
    poll_seconds : float
        How often open WatchJob streams re-read the store when no notification arrives
        (default 0.3; one read per watched job, however many streams watch it).
    store_retry_seconds : float
        How long a worker's store calls retry through an outage before the worker gives
        up and the job is re-queued (``MOTIFLENS_STORE_RETRY_SECONDS``, default 120, 0-3600).
    max_resumes : int
        How often one job may be re-queued after an interruption before it is FAILED
        (``MOTIFLENS_TRAINER_MAX_RESUMES``, default 3, 0-100).
    """

    concurrency: int = DEFAULT_CONCURRENCY
    queue_limit: int = DEFAULT_QUEUE_LIMIT
    heartbeat_seconds: float = 5.0
    orphan_sweep_seconds: float = 60.0
    poll_seconds: float = 0.3
    store_retry_seconds: float = float(DEFAULT_STORE_RETRY_SECONDS)
    max_resumes: int = DEFAULT_MAX_RESUMES

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> JobSettings:
        """Read ``MOTIFLENS_TRAINER_*`` and ``MOTIFLENS_STORE_RETRY_SECONDS``.

        Raises
        ------
        ConfigError
            A value that is not an integer in range (the message names the variable).
        """
        env = os.environ if environ is None else environ
        return cls(
            concurrency=_int_variable(env, CONCURRENCY_ENV, DEFAULT_CONCURRENCY, 1, 64),
            queue_limit=_int_variable(env, QUEUE_ENV, DEFAULT_QUEUE_LIMIT, 1, 10000),
            store_retry_seconds=float(
                _int_variable(env, STORE_RETRY_ENV, DEFAULT_STORE_RETRY_SECONDS, 0, 3600)
            ),
            max_resumes=_int_variable(env, MAX_RESUMES_ENV, DEFAULT_MAX_RESUMES, 0, 100),
        )


@dataclass(frozen=True)
class SweepSettings:
    """How the trainer runs sweeps.

    Attributes
    ----------
    executor : str
        "local" (the trainer's worker processes) or "kubernetes" (an Indexed Job per
        sweep) — ``MOTIFLENS_SWEEP_EXECUTOR``, default local.
    image, gpu_image : str
        Trainer images for sweep pods (``MOTIFLENS_SWEEP_IMAGE``, required for the
        kubernetes executor; ``MOTIFLENS_SWEEP_GPU_IMAGE``, needed for ``gpu`` sweeps).
    namespace : str
        Namespace of the Jobs (``MOTIFLENS_SWEEP_NAMESPACE``, default the pod's own).
    parallelism : int
        Pods at once when a request leaves it 0 (``MOTIFLENS_SWEEP_PARALLELISM``, default 4).
    max_configs : int
        Largest grid accepted (``MOTIFLENS_SWEEP_MAX_CONFIGS``, default 1000; the paper's
        Task 1 sweep is 510).
    """

    executor: str = "local"
    image: str = ""
    gpu_image: str = ""
    namespace: str = ""
    parallelism: int = DEFAULT_PARALLELISM
    max_configs: int = DEFAULT_MAX_CONFIGS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SweepSettings:
        """Read the ``MOTIFLENS_SWEEP_*`` variables.

        Raises
        ------
        ConfigError
            Unknown executor, kubernetes without an image, or a number out of range.
        """
        env = os.environ if environ is None else environ
        executor = (env.get(EXECUTOR_ENV) or "local").strip().lower()
        if executor not in EXECUTORS:
            raise ConfigError(f"{EXECUTOR_ENV}: expected one of {', '.join(EXECUTORS)}, got {executor!r}")
        image = (env.get(IMAGE_ENV) or "").strip()
        if executor == "kubernetes" and not image:
            raise ConfigError(f"{IMAGE_ENV}: required when {EXECUTOR_ENV}=kubernetes (the trainer image)")
        return cls(
            executor=executor,
            image=image,
            gpu_image=(env.get(GPU_IMAGE_ENV) or "").strip(),
            namespace=(env.get(NAMESPACE_ENV) or "").strip(),
            parallelism=_int_variable(env, PARALLELISM_ENV, DEFAULT_PARALLELISM, 1, MAX_PARALLELISM),
            max_configs=_int_variable(env, MAX_CONFIGS_ENV, DEFAULT_MAX_CONFIGS, 1, 100_000),
        )


def max_upload_bytes_from_env(environ: Mapping[str, str] | None = None) -> int:
    """The largest file one ``Upload`` may send, bytes (``MOTIFLENS_MAX_UPLOAD_MB``).

    Raises
    ------
    ConfigError
        Not an integer from 1 to 1048576.
    """
    env = os.environ if environ is None else environ
    return _int_variable(env, MAX_UPLOAD_ENV, DEFAULT_MAX_UPLOAD_MB, 1, 1024 * 1024) * 1024 * 1024


@dataclass(frozen=True)
class ChildProcessLimits:
    """Limits of a child process that handles untrusted or heavy work for a service.

    Attributes
    ----------
    memory_bytes : int
        Its address-space limit (RLIMIT_AS), from ``MEMORY_VARIABLE`` in MiB.
    timeout_seconds : int
        How long it may run, from ``TIMEOUT_VARIABLE``.
    """

    MEMORY_VARIABLE: ClassVar[str] = ""
    TIMEOUT_VARIABLE: ClassVar[str] = ""
    memory_bytes: int = 4096 * 1024 * 1024
    timeout_seconds: int = 600

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Read the two variables (memory 1024-1048576 MiB, timeout 10-86400 s).

        Raises
        ------
        ConfigError
            A value outside its range.
        """
        env = os.environ if environ is None else environ
        defaults = cls()
        memory_mb = _int_variable(env, cls.MEMORY_VARIABLE, defaults.memory_bytes >> 20, 1024, 1024 * 1024)
        timeout = _int_variable(env, cls.TIMEOUT_VARIABLE, defaults.timeout_seconds, 10, 86400)
        return cls(memory_bytes=memory_mb * 1024 * 1024, timeout_seconds=timeout)


@dataclass(frozen=True)
class ModelFileSettings(ChildProcessLimits):
    """The child that imports a model or writes a SavedModel (``MOTIFLENS_IMPORT_*``).

    A hostile model whose layers declare huge weights fails there, not in the trainer.
    """

    MEMORY_VARIABLE: ClassVar[str] = "MOTIFLENS_IMPORT_MEMORY_MB"
    TIMEOUT_VARIABLE: ClassVar[str] = "MOTIFLENS_IMPORT_TIMEOUT_SECONDS"


@dataclass(frozen=True)
class DiscoveryLimits(ChildProcessLimits):
    """The child that runs TF-MoDISco for DiscoverMotifs (``MOTIFLENS_DISCOVERY_*``)."""

    MEMORY_VARIABLE: ClassVar[str] = "MOTIFLENS_DISCOVERY_MEMORY_MB"
    TIMEOUT_VARIABLE: ClassVar[str] = "MOTIFLENS_DISCOVERY_TIMEOUT_SECONDS"
    timeout_seconds: int = 1800


def sweep_index_from_env(environ: Mapping[str, str] | None = None) -> int:
    """A sweep pod's configuration index, from ``JOB_COMPLETION_INDEX``.

    Raises
    ------
    ConfigError
        Unset, or not a non-negative integer.
    """
    env = os.environ if environ is None else environ
    raw = env.get(INDEX_ENV, "")
    if not raw.strip().isdigit():
        raise ConfigError(f"{INDEX_ENV}: expected a non-negative integer, got {raw!r}")
    return int(raw)


def _int_variable(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    return parse_int_setting((env.get(name) or "").strip() or None, name, default, low, high)
