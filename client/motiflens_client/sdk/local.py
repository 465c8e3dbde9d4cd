"""``Client.local``'s helpers: find ``services`` (never importing it), start, wait for, stop the stack.

:func:`store_url` is the one rule that turns a ``store`` argument (``Client.local(store=...)``,
``motiflens up --store``, ``motiflens experiment --store``) into the URL the launcher takes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from motiflens_client.errors import (
    FailedPrecondition,
    InvalidArgument,
)


def store_url(store: str) -> str:
    """The artifact-store URL for a ``store`` argument: a URL as it is, a folder as its ``file://`` URL.

    A value containing ``://`` (``file:///path``, ``s3://bucket/prefix?endpoint=host:port``)
    is passed on unchanged, for the launcher to validate; anything else is a folder path,
    with ``~`` expanded and made absolute against the current directory (the folder need
    not exist yet: the store creates it).

    Parameters
    ----------
    store : str
        A store URL or a folder path.

    Returns
    -------
    str

    Raises
    ------
    InvalidArgument
        ``store`` is empty or blank.
    """
    if not isinstance(store, str) or not store.strip():
        raise InvalidArgument(
            "store: expected a folder path, file:///path or s3://bucket/prefix?endpoint=host:port, "
            f"got {store!r}"
        )
    if "://" in store:
        return store
    return Path(store).expanduser().resolve().as_uri()


def _free_base_port(host: str = "127.0.0.1") -> int:
    """A port p such that p, p + 1 and p + 2 are free on ``host`` (at the time of asking)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((host, 0))
            base = probe.getsockname()[1]
        if base > 65530:
            continue
        sockets: list[socket.socket] = []
        try:
            for offset in range(3):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind((host, base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no three consecutive free ports found")


#: Services the launcher starts (trainer on the base port, the others on the next two).
_LOCAL_SERVICES = ("trainer", "interpreter", "motifmatch")
#: Seconds a stopping launcher gets to drain its services (its own grace is 15 s) before SIGKILL.
LOCAL_STOP_GRACE_SECONDS = 30.0


def _services_root() -> Path:
    """The directory holding the ``services`` package of this interpreter, found without importing it.

    Raises
    ------
    FailedPrecondition
        No ``services`` package with a launcher on this interpreter's path.
    """
    try:
        spec = importlib.util.find_spec("services")
    except (ImportError, ValueError) as error:
        spec, reason = None, f"{type(error).__name__}: {error}"
    else:
        reason = "no module named 'services'"
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        if (Path(location) / "launcher.py").is_file():
            return Path(location).resolve().parent
    if spec is not None:
        reason = f"the 'services' package at {locations or spec.origin} has no launcher"
    raise FailedPrecondition(
        "Client.local() runs the services from this Python environment and needs the full "
        "motiflens installation (the `services` package); install motiflens, or connect to "
        f"running servers with Client(address) ({reason}; interpreter {sys.executable})"
    )


def _terminate(process: subprocess.Popen, grace: float) -> None:
    """SIGTERM the launcher (it drains its services), then SIGKILL its whole process group after ``grace``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    # The launcher ran in its own session: its group holds the services too; none may outlive it.
    if hasattr(os, "killpg"):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if process.poll() is None:
        process.kill()
    process.wait()


def _stop_local_stack(process: subprocess.Popen, ready_dir: str, store_dir: str | None) -> None:
    _terminate(process, LOCAL_STOP_GRACE_SECONDS)
    shutil.rmtree(ready_dir, ignore_errors=True)
    if store_dir is not None:
        shutil.rmtree(store_dir, ignore_errors=True)


def _wait_ready(process: subprocess.Popen, ready_file: Path, timeout: float) -> dict[str, Any]:
    """The launcher's readiness record, once it has written it; RuntimeError when it exits or is late."""
    deadline = time.monotonic() + timeout
    while True:
        if ready_file.is_file():
            return json.loads(ready_file.read_text())
        code = process.poll()
        if code is not None:
            raise RuntimeError(
                f"the local motiflens stack (python -m services.launcher) exited with code {code} "
                "before its services were healthy; its log is on stderr above"
            )
        if time.monotonic() >= deadline:
            raise RuntimeError(f"the local motiflens stack did not become healthy within {timeout:.0f} s")
        time.sleep(0.2)
