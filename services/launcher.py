"""Start the whole suite on one machine: trainer, interpreter and motifmatch on loopback.

``python -m services.launcher`` (what ``make up`` runs) starts each service as its
own process (``python -m services.<name>``) with the shared settings of the
environment — by default the file store under ``~/.motiflens/store`` — waits
until each answers its gRPC health check, prints the addresses and keeps running
until interrupted; Ctrl-C (or SIGTERM) stops the services gracefully.

Options: ``--store URL`` (``file:///...`` or ``s3://bucket/prefix?endpoint=...``),
``--host`` and ``--base-port`` (trainer, interpreter and motifmatch take base,
base + 1, base + 2; default 50051), ``--timeout`` (seconds to wait for SERVING).

For a program that starts the suite (``Client.local()`` in the SDK):
``--ready-file PATH`` writes one JSON object there once every service is healthy
(``{"pid": ..., "host": ..., "base_port": ..., "store": URL, "addresses": {"trainer": "host:port", ...}}``,
written atomically, so its appearance is the readiness signal); ``--quiet`` leaves
out the banner; ``--exit-with-parent`` stops the suite when the process that
started the launcher is gone (so a killed notebook leaves no servers behind).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from motiflens_client.wire.vocabulary import DEFAULT_PORTS

from services.common.config import store_url_setting

SERVICES = ("trainer", "interpreter", "motifmatch")


@dataclass
class RunningService:
    """A started service process and its address."""

    name: str
    address: str
    process: subprocess.Popen


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
    """Start the three services and wait until all are healthy; returns them in start order."""
    environment = dict(os.environ if env is None else env)
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    environment["MOTIFLENS_STORE"] = store
    environment["MOTIFLENS_HOST"] = host
    running = []
    try:
        for offset, name in enumerate(SERVICES):
            port = base_port + offset
            environment[f"MOTIFLENS_{name.upper()}_PORT"] = str(port)
            process = subprocess.Popen([sys.executable, "-m", f"services.{name}"], env=environment)
            running.append(RunningService(name, f"{host}:{port}", process))
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
        running.extend(
            start_suite(store=args.store, host=args.host, base_port=args.base_port, timeout=args.timeout)
        )
    except (_Stop, KeyboardInterrupt):
        return 0
    except RuntimeError as error:  # a service exited or never became healthy; the rest are stopped
        sys.stderr.write(f"motiflens: the stack did not start: {error}\n")
        return 3
    if args.ready_file:
        write_ready_file(args.ready_file, running, args.host, args.base_port, args.store)
    if not args.quiet:
        sys.stdout.write(f"motiflens suite up (store {args.store}):\n")
        for service in running:
            sys.stdout.write(f"  {service.name:<12} {service.address}\n")
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
