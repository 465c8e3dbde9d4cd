"""Artifact-store fixtures for the service tests: a loopback S3 server and a store per backend.

- ``s3_server`` (session): one moto S3 server in a subprocess on a free loopback port,
  with fake credentials in the environment for the whole session.
- ``start_s3_server`` (function): starts further, separate servers (for tests that kill one).
- ``store_url`` (function, parametrised "file" and "s3"): a fresh, empty store per test.
- ``store``: ``open_store(store_url)``.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import minio
import pytest

from services.common.store import ArtifactStore, open_store

S3_ACCESS_KEY = "motiflens-test"
S3_SECRET_KEY = "motiflens-test-secret"
S3_PREFIX = "motiflens"


@dataclass
class S3Server:
    """A moto S3 server running in its own process."""

    endpoint: str
    process: subprocess.Popen
    log_path: Path

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def client(self) -> minio.Minio:
        """An SDK client for setting up and tampering with the server behind a store's back."""
        return minio.Minio(self.endpoint, access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY, secure=False)

    def create_bucket(self) -> str:
        """A new, empty bucket with a unique name."""
        bucket = f"mlt-{uuid.uuid4().hex[:24]}"
        self.client().make_bucket(bucket)
        return bucket

    def url(self, bucket: str) -> str:
        """The store URL for ``bucket`` on this server."""
        return f"s3://{bucket}/{S3_PREFIX}?endpoint={self.endpoint}&secure=false"

    def kill(self) -> None:
        """SIGKILL the server (a crash) and wait for it to be gone."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        connection.close()


def launch_s3_server(log_dir: Path, *, port: int | None = None, timeout: float = 30.0) -> S3Server:
    """Start ``python -m moto.server`` on 127.0.0.1 and return once it answers HTTP.

    Parameters
    ----------
    log_dir : Path
        Where the server's output goes (quoted if it fails to start).
    port : int, optional
        Default a free port.
    timeout : float
        Seconds to wait for the first answer (default 30).
    """
    port = port or _free_port()
    log_path = log_dir / f"moto-{port}-{uuid.uuid4().hex[:8]}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = S3Server(endpoint=f"127.0.0.1:{port}", process=process, log_path=log_path)
    deadline = time.monotonic() + timeout
    while not _answers(port):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"moto S3 server on port {port} did not start; its output:\n{tail}")
        time.sleep(0.05)
    return server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One loopback S3 server for the session; fake credentials are set in the environment."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTIFLENS_S3_ACCESS_KEY", S3_ACCESS_KEY)
        patch.setenv("MOTIFLENS_S3_SECRET_KEY", S3_SECRET_KEY)
        server = launch_s3_server(tmp_path_factory.mktemp("moto"))
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def start_s3_server(s3_server: S3Server, tmp_path: Path) -> Iterator[Callable[..., S3Server]]:
    """Factory for extra S3 servers, separate from the session one; all stopped after the test.

    Call it as ``start_s3_server()`` or ``start_s3_server(port=...)`` (e.g. to restart one).
    Depends on ``s3_server`` only for the credentials it puts in the environment.
    """
    servers: list[S3Server] = []

    def start(**kwargs) -> S3Server:
        server = launch_s3_server(tmp_path, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop()


@pytest.fixture(params=["file", "s3"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a fresh, empty store: a temp directory, or a new bucket on the session S3 server."""
    if request.param == "file":
        return (tmp_path / "store").as_uri()
    server: S3Server = request.getfixturevalue("s3_server")  # started only when an s3 case runs
    return server.url(server.create_bucket())


@pytest.fixture
def store(store_url: str) -> ArtifactStore:
    """``open_store(store_url)``."""
    return open_store(store_url)
