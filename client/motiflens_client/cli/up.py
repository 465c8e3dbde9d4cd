"""``motiflens up``: the stack on this machine, as a child process running ``services.launcher``.

The CLI never imports ``services``: it runs ``python -m services.launcher`` with the
interpreter it runs in, forwards SIGINT and SIGTERM to it (the launcher then stops the
three services gracefully) and exits with its status.

``--store`` takes what ``Client.local(store=...)`` takes (:func:`motiflens_client.sdk.local.store_url`:
a folder path or a ``file://`` / ``s3://`` URL). The launcher checks the store and every
port before it starts a service and refuses with one line and status 2 (a malformed
store, an unreachable S3 server, a missing bucket without ``--create-bucket``, a port in
use); ``up`` then adds nothing to that line.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from motiflens_client.cli._args import (
    EXIT_SERVER,
    CliError,
    Commands,
    local_command,
    non_negative_int,
)
from motiflens_client.cli._output import fail
from motiflens_client.errors import InvalidArgument
from motiflens_client.sdk.local import store_url
from motiflens_client.wire.vocabulary import DEFAULT_PORTS

LAUNCHER = "services.launcher"
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: The launcher's status when it refused to start (its one line on stderr says why and the fix).
LAUNCHER_REFUSED = 2


def register(commands: Commands) -> None:
    """The ``up`` command."""
    parser = local_command(
        commands,
        "up",
        run_up,
        "run the trainer, interpreter and motifmatch on this machine (foreground)",
        description=(
            "Run the trainer, interpreter and motifmatch on loopback in the foreground until Ctrl-C\n"
            f"(what `make up` runs: `python -m {LAUNCHER}`, started with this Python). Needs the full\n"
            "motiflens installation (TensorFlow, services). Exits with the launcher's status."
        ),
    )
    parser.add_argument(
        "--store",
        help="a folder, file:///... or s3://bucket/prefix?endpoint=host:port[&secure=false] "
        "(default MOTIFLENS_STORE, else ~/.motiflens/store)",
    )
    parser.add_argument(
        "--create-bucket",
        action="store_true",
        help="create the s3:// store's bucket if it does not exist (without it a missing bucket is refused)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default %(default)s)")
    parser.add_argument(
        "--base-port",
        type=non_negative_int,
        default=DEFAULT_PORTS["trainer"],
        metavar="N",
        help="trainer port N; interpreter and motifmatch take N+1, N+2, their /metrics N+50 to N+52 "
        "(default %(default)s, whose metrics stay 9101-9103); MOTIFLENS_<SERVICE>_PORT and "
        "MOTIFLENS_<SERVICE>_METRICS_PORT win",
    )


def launcher_installed() -> bool:
    """Whether this interpreter has the ``services`` package with its launcher (nothing imported)."""
    try:
        spec = importlib.util.find_spec("services")
    except (ImportError, ValueError):
        return False
    if spec is None:
        return False
    return any((Path(folder) / "launcher.py").is_file() for folder in spec.submodule_search_locations or ())


def launcher_command(args: argparse.Namespace) -> list[str]:
    """``python -m services.launcher ...`` for ``up``'s options; the stack stops with this process."""
    command = [sys.executable, "-m", LAUNCHER, "--host", args.host, "--base-port", str(args.base_port)]
    if args.store is not None:
        try:
            command += ["--store", store_url(args.store)]  # the SDK's rule: a folder → its file:// URL
        except InvalidArgument as error:
            raise CliError(f"--{error.message}") from None  # "--store: expected ..."
    if args.create_bucket:
        command.append("--create-bucket")
    return [*command, "--exit-with-parent"]


class SignalForwarder:
    """While active: SIGINT and SIGTERM to this process go to the child set with :meth:`attach`.

    The handlers are installed before the child starts, so that a signal in between is
    not lost: it is kept and sent as soon as the child is attached.
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._pending: list[int] = []
        self._previous: dict[
            int, signal.Handlers | Callable[[int, FrameType | None], object] | int | None
        ] = {}

    def __enter__(self) -> SignalForwarder:
        for signum in FORWARDED_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._forward)
        return self

    def __exit__(self, *_: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def attach(self, process: subprocess.Popen[bytes]) -> None:
        """Forward to ``process`` from now on, starting with any signal received before."""
        self._process = process
        for signum in self._pending:
            self._send(signum)
        self._pending.clear()

    def _forward(self, signum: int, _frame: FrameType | None) -> None:
        if self._process is None:
            self._pending.append(signum)
        else:
            self._send(signum)

    def _send(self, signum: int) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signum)


def run_up(args: argparse.Namespace) -> int:
    """Run the launcher until it exits; its exit status (128 + N when killed by signal N)."""
    command = launcher_command(args)  # a bad --store is refused before the launcher is looked for
    if not launcher_installed():
        raise CliError(
            f"up needs the full motiflens installation (the 'services' package with TensorFlow), "
            f"not found for {sys.executable}; install motiflens or run `make up` in its repository"
        )
    # Signals can only be handled in the main thread. There the launcher gets a session of its
    # own, so that a terminal's Ctrl-C reaches it once (forwarded), not twice.
    main_thread = threading.current_thread() is threading.main_thread()
    with SignalForwarder() if main_thread else contextlib.nullcontext() as forwarder:
        try:
            process = subprocess.Popen(command, start_new_session=main_thread)
        except OSError as error:
            raise CliError(f"cannot start {sys.executable} -m {LAUNCHER}: {error}", EXIT_SERVER) from None
        if forwarder is not None:
            forwarder.attach(process)
        status = process.wait()
    if status < 0:
        return 128 - status
    if status not in (0, LAUNCHER_REFUSED):
        fail(f"the stack exited with status {status} (the launcher's messages are above)")
    return status
