"""Start the whole suite on one machine: trainer, interpreter and motifmatch on loopback.

``python -m services.launcher`` (what ``make up`` runs) starts each service as its
own process (``python -m services.<name>``) with the shared settings of the
environment — by default the file store under ``~/.motiflens/store`` — waits
until each answers its gRPC health check, prints the addresses and keeps running
until interrupted; Ctrl-C (or SIGTERM) stops the services gracefully.

Options: ``--store URL`` (``file:///...`` or ``s3://bucket/prefix?endpoint=...``;
``motiflens up --store`` also takes a folder path), ``--create-bucket`` (an ``s3://``
store's missing bucket is created first; without it a missing bucket is refused at once),
``--host`` and ``--base-port`` (see below), ``--timeout`` (seconds to wait for SERVING).

Ports (:func:`services.common.config.stack_ports`): base port N (default 50051) puts the
trainer, interpreter and motifmatch on N, N + 1, N + 2 and their Prometheus ``/metrics`` on
N + 50, N + 51, N + 52 — except the default base, whose metrics stay 9101-9103. An
explicit ``MOTIFLENS_<SERVICE>_PORT`` or ``MOTIFLENS_<SERVICE>_METRICS_PORT`` wins.

Before starting anything the launcher checks the store (a malformed URL, an unreachable
server, a missing bucket) and that every port is free, and refuses with one line on
stderr and exit status 2 that says what to change (e.g. ``--base-port N``); exit status 3
means a started service failed (its log is above).

For a program that starts the suite (``Client.local()`` in the SDK):
``--ready-file PATH`` writes one JSON object there once every service is healthy
(``{"pid": ..., "host": ..., "base_port": ..., "store": URL, "addresses": {"trainer": "host:port", ...}}``,
written atomically, so its appearance is the readiness signal); ``--quiet`` leaves
out the banner; ``--exit-with-parent`` stops the suite when the process that
started the launcher is gone (so a killed notebook leaves no servers behind).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass

from motiflens_client.wire.vocabulary import DEFAULT_PORTS

from services.common.config import (
    MAX_BASE_PORT,
    METRICS_PORT_OFFSET,
    ConfigError,
    StackPort,
    stack_ports,
    store_url_setting,
)
from services.common.store import check_store

SERVICES = ("trainer", "interpreter", "motifmatch")
#: Exit status when the launcher refuses to start (bad option, busy port, store not usable).
REFUSED_EXIT_STATUS = 2
#: Exit status when a started service exited or never became healthy.
FAILED_EXIT_STATUS = 3
#: Base ports suggested when one is busy: this far apart, so six ports never overlap.
SUGGESTION_STEP = 100


class StartRefused(RuntimeError):
    """The stack cannot start as asked, found before any service starts; the message says what to change."""


def _bind_error(host: str, port: int) -> OSError | None:
    """Why ``host:port`` cannot be listened on now (None: it can), probing as the servers bind."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        return error
    with socket.socket(family, kind, proto) as probe:
        # Both servers set SO_REUSEADDR: a port left in TIME_WAIT is usable, one with a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            return error
    return None


def _free_base_suggestion(host: str, base_port: int, environ: Mapping[str, str]) -> int | None:
    """A base port near ``base_port`` whose layout ports are all free now (None if none of 20 tried is)."""
    for step in range(1, 21):
        for candidate in (base_port + step * SUGGESTION_STEP, base_port - step * SUGGESTION_STEP):
            if not 1024 <= candidate <= MAX_BASE_PORT:
                continue
            try:
                planned = stack_ports(candidate, environ)
            except ConfigError:
                return None
            if all(
                _bind_error(host, port.port) is None for port in planned if port.port and not port.from_env
            ):
                return candidate
    return None


def check_ports(host: str, base_port: int, planned: list[StackPort], environ: Mapping[str, str]) -> None:
    """Raise StartRefused naming each planned port that cannot be bound, the service that wanted it, the fix.

    Parameters
    ----------
    host : str
        The bind address of every port.
    base_port : int
        The base port the plan came from (for the suggested fix).
    planned : list of StackPort
        :func:`services.common.config.stack_ports`; metrics ports of 0 (any) are not checked.
    environ : mapping
        The services' environment (its ``MOTIFLENS_*_PORT`` variables shape a suggested base).
    """
    problems = []
    for port in planned:
        if port.port == 0:
            continue
        error = _bind_error(host, port.port)
        if error is None:
            continue
        if isinstance(error, socket.gaierror):
            raise StartRefused(f"--host: cannot use {host!r} as a bind address ({error})")
        how = "in use" if error.errno == errno.EADDRINUSE else f"not usable ({error.strerror or error})"
        source = f", set by {port.variable}" if port.from_env else ""
        problems.append(f"port {port.port} ({port.label}{source}) is {how}")
    if not problems:
        return
    suggestion = _free_base_suggestion(host, base_port, environ)
    fix = (
        f"start on other ports with --base-port N (gRPC N to N+2, metrics N+{METRICS_PORT_OFFSET} to "
        f"N+{METRICS_PORT_OFFSET + 2}; e.g. --base-port {suggestion})"
        if suggestion is not None
        else "start on other ports with --base-port N"
    )
    if any(port.from_env for port in planned):
        fix += ", or change the MOTIFLENS_*_PORT variables that set ports"
    if any(problem.endswith(" in use") for problem in problems):
        fix += ", or stop the motiflens stack or program that holds it"
    raise StartRefused(f"cannot start the stack on {host}: {'; '.join(problems)}; {fix}")


def plan_ports(host: str, base_port: int, environ: Mapping[str, str]) -> list[StackPort]:
    """:func:`services.common.config.stack_ports`, each port checked free (:func:`check_ports`).

    Raises
    ------
    StartRefused
        A bad base port or port variable, or a port that cannot be bound.
    """
    try:
        planned = stack_ports(base_port, environ)
    except ConfigError as error:
        raise StartRefused(str(error)) from None
    check_ports(host, base_port, planned, environ)
    return planned


@dataclass
class RunningService:
    """A started service process and its address."""

    name: str
    address: str
    process: subprocess.Popen
    #: Its /metrics port (0: any free one, None: off).
    metrics_port: int | None = None


def wait_until_serving(address: str, timeout: float, process: subprocess.Popen) -> None:
    """Poll the gRPC health service until it reports SERVING (or the process dies)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"service at {address} exited with code {process.returncode}")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.3)
    raise RuntimeError(f"service at {address} did not become healthy within {timeout:.0f} s")


def start_suite(
    *,
    store: str,
    host: str = "127.0.0.1",
    base_port: int = DEFAULT_PORTS["trainer"],
    timeout: float = 120.0,
    env=None,
) -> list[RunningService]:
    """Start the three services and wait until all are healthy; returns them in start order.

    The ports follow :func:`services.common.config.stack_ports` (``MOTIFLENS_*_PORT`` and
    ``MOTIFLENS_*_METRICS_PORT`` in ``env`` win) and are all checked before the first
    service starts.

    Raises
    ------
    StartRefused
        A bad base port or port variable, or a port that cannot be bound; nothing was started.
    RuntimeError
        A service exited or did not become healthy within ``timeout`` (the others are stopped).
    """
    environment = dict(os.environ if env is None else env)
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    environment["MOTIFLENS_STORE"] = store
    environment["MOTIFLENS_HOST"] = host
    planned = plan_ports(host, base_port, environment)
    for port in planned:
        environment[port.variable] = str(port.port)
    grpc_ports = {port.service: port.port for port in planned if port.kind == "gRPC"}
    metrics_ports = {port.service: port.port for port in planned if port.kind == "metrics"}
    running = []
    try:
        for name in SERVICES:
            process = subprocess.Popen([sys.executable, "-m", f"services.{name}"], env=environment)
            address = f"{_bracket(host)}:{grpc_ports[name]}"
            running.append(RunningService(name, address, process, metrics_ports.get(name)))
        for service in running:
            wait_until_serving(service.address, timeout, service.process)
    except BaseException:
        stop_suite(running)
        raise
    return running


def stop_suite(running: list[RunningService], grace: float = 15.0) -> None:
    """SIGTERM every service (graceful drain), then kill what is still alive after ``grace``."""
    for service in running:
        if service.process.poll() is None:
            service.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for service in running:
        remaining = max(0.1, deadline - time.monotonic())
        try:
            service.process.wait(remaining)
        except subprocess.TimeoutExpired:
            service.process.kill()


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class _Stop(BaseException):
    """SIGTERM while the services are still starting: start_suite stops what it started."""


def write_ready_file(
    path: str, running: list[RunningService], host: str, base_port: int, store: str = ""
) -> None:
    """Write the readiness record (one JSON object) to ``path`` atomically."""
    record = {
        "pid": os.getpid(),
        "host": host,
        "base_port": base_port,
        "store": store,
        "addresses": {service.name: service.address for service in running},
    }
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w") as handle:
        handle.write(json.dumps(record) + "\n")
    os.replace(temporary, path)


def main(argv: list[str] | None = None) -> int:
    """Run the suite in the foreground until interrupted (SIGINT, SIGTERM) or a service exits."""
    parser = argparse.ArgumentParser(prog="python -m services.launcher", description=__doc__.split("\n")[0])
    parser.add_argument("--store", default=store_url_setting())
    parser.add_argument(
        "--create-bucket", action="store_true", help="create an s3:// store's bucket if it does not exist"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--base-port", type=int, default=DEFAULT_PORTS["trainer"])
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for SERVING")
    parser.add_argument("--ready-file", help="write the addresses there as JSON once all are healthy")
    parser.add_argument("--quiet", action="store_true", help="no banner on stdout")
    parser.add_argument(
        "--exit-with-parent", action="store_true", help="stop when the starting process is gone"
    )
    args = parser.parse_args(argv)
    parent = os.getppid()
    stopping: list[bool] = []

    def on_sigterm(*_: object) -> None:
        if not stopping:
            stopping.append(True)
            if not running:  # still starting: unwind start_suite, which stops what it started
                raise _Stop

    running: list[RunningService] = []
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        # Ports first (no network), then the store (may create the bucket), then the services.
        plan_ports(args.host, args.base_port, os.environ)
        try:
            created = check_store(args.store, create_bucket=args.create_bucket)
        except ConfigError as error:
            raise StartRefused(f"--store: {error}") from None
        if created is not None and not args.quiet:
            sys.stdout.write(f"motiflens: {created}\n")
        running.extend(
            start_suite(store=args.store, host=args.host, base_port=args.base_port, timeout=args.timeout)
        )
    except (_Stop, KeyboardInterrupt):
        return 0
    except StartRefused as error:  # found before any service started: one line with the fix
        sys.stderr.write(f"motiflens: error: {error}\n")
        return REFUSED_EXIT_STATUS
    except RuntimeError as error:  # a service exited or never became healthy; the rest are stopped
        sys.stderr.write(f"motiflens: the stack did not start: {error}\n")
        return FAILED_EXIT_STATUS
    if args.ready_file:
        write_ready_file(args.ready_file, running, args.host, args.base_port, args.store)
    if not args.quiet:
        sys.stdout.write(f"motiflens suite up (store {args.store}):\n")
        for service in running:
            metrics = {None: "off", 0: "any free port"}.get(service.metrics_port, f":{service.metrics_port}")
            sys.stdout.write(f"  {service.name:<12} {service.address:<22} metrics {metrics}\n")
        sys.stdout.write("Ctrl-C stops it.\n")
        sys.stdout.flush()
    try:
        while not stopping and all(service.process.poll() is None for service in running):
            if args.exit_with_parent and os.getppid() != parent:
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the drain short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop_suite(running)
    return 0


if __name__ == "__main__":
    sys.exit(main())
