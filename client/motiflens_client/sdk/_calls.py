"""The SDK's core (:class:`ClientBase`): channels, deadlines, retries, stream restarts, ``Client.local``."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Self

import grpc

from motiflens_client.errors import (
    InvalidArgument,
    from_rpc_error,
)
from motiflens_client.sdk.local import (
    _LOCAL_SERVICES,
    LOCAL_STOP_GRACE_SECONDS,
    _free_base_port,
    _services_root,
    _stop_local_stack,
    _terminate,
    _wait_ready,
)
from motiflens_client.sdk.local import store_url as local_store_url
from motiflens_client.wire import vocabulary
from motiflens_client.wire.pb import (
    interpreter_pb2_grpc,
    motifmatch_pb2_grpc,
    trainer_pb2_grpc,
)

logger = logging.getLogger("motiflens_client.sdk")  # one logger for the whole SDK

#: Longest pause between retries of a patient stream (a job being watched).
PATIENT_BACKOFF_CAP_SECONDS = 5.0
#: Codes a patient stream retries: the server or its store is away, or it is at its stream limit.
PATIENT_RETRY_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)


def _patient_delay(error: grpc.RpcError, attempt: int, deadline: float | None) -> float | None:
    """Seconds before a patient stream retries, or None to raise (other code, or no time left)."""
    if error.code() not in PATIENT_RETRY_CODES:
        return None
    delay = min(BACKOFF_SECONDS * 2 ** min(attempt, 16), PATIENT_BACKOFF_CAP_SECONDS)
    if deadline is not None and time.monotonic() + delay >= deadline:
        return None
    logger.info("stream: %s (%s); retrying in %.1f s", error.code().name, error.details(), delay)
    return delay


#: First retry delay; each further retry doubles it.
BACKOFF_SECONDS = 0.2
#: JASPAR release searched when no database is named.
DEFAULT_DATABASE = "JASPAR2016"

_OUTPUTS = vocabulary.OUTPUT_BY_NAME
_METHODS = vocabulary.METHOD_BY_NAME
_REFERENCES = vocabulary.REFERENCE_BY_NAME
_TASKS = vocabulary.TASK_BY_NUMBER
_CHANNEL_OPTIONS = [
    # The server enforces its own limit (MOTIFLENS_MAX_MESSAGE_MB); gRPC's client default of
    # 4 MiB would refuse large scans and attribution chunks.
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
    # One connection per address the name resolves to, calls spread over them in turn: behind
    # a headless Service (deploy/) each interpreter or motifmatch pod gets its share of one
    # client's calls. A name with one address behaves as before.
    ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
]


def _output_choice(value: str) -> Any:
    """OutputKind of ``output``: "auto" leaves it unset (the server uses what the model has)."""
    return 0 if value == "auto" else _choice(_OUTPUTS, value, "output")


def _choice(table: Mapping[str, int], value: str, field: str) -> Any:
    """``table[value]``, a proto enum value; InvalidArgument for another value.

    Typed Any: each request field wants its own enum's ValueType, which the vocabulary's
    plain ints are at run time.
    """
    try:
        return table[value]
    except (KeyError, TypeError):
        raise InvalidArgument(f"{field}: expected one of {', '.join(table)}, got {value!r}") from None


def _derived_address(address: str, offset: int, field: str) -> str:
    """``host:port`` -> ``host:(port + offset)``."""
    head, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not head or head.endswith(":"):
        raise InvalidArgument(
            f"{field}: cannot derive it from address {address!r} (no host:port); pass {field} explicitly"
        )
    return f"{head}:{int(port) + offset}"


def _channel_credentials(tls: bool | str | os.PathLike | None) -> grpc.ChannelCredentials | None:
    if tls is None or tls is False:
        return None
    if tls is True:
        return grpc.ssl_channel_credentials()
    path = Path(tls).expanduser()
    try:
        root = path.read_bytes()
    except OSError as error:
        raise InvalidArgument(f"tls: cannot read the PEM root certificate {str(path)!r}: {error}") from None
    return grpc.ssl_channel_credentials(root_certificates=root)


#: Items asked per page by the SDK's list calls (the server allows up to 1000).
LIST_PAGE_SIZE = 500


class ClientBase:
    """Channels, stubs, deadlines and retries shared by the per-service calls; see :class:`Client`."""

    def __init__(
        self,
        address: str = "127.0.0.1:50051",
        *,
        interpreter_address: str | None = None,
        motifmatch_address: str | None = None,
        token: str | None = None,
        tls: bool | str | os.PathLike | None = None,
        timeout: float = 60.0,
        retries: int = 3,
    ) -> None:
        if not timeout > 0:
            raise InvalidArgument(f"timeout: expected seconds > 0, got {timeout}")
        if retries < 0:
            raise InvalidArgument(f"retries: expected >= 0, got {retries}")
        self.address = address
        self.interpreter_address = interpreter_address or _derived_address(address, 1, "interpreter_address")
        self.motifmatch_address = motifmatch_address or _derived_address(address, 2, "motifmatch_address")
        self.timeout = float(timeout)
        self.retries = int(retries)
        self._metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),) if token else ()
        credentials = _channel_credentials(tls)
        self._channels: dict[str, grpc.Channel] = {}
        for target in (self.address, self.interpreter_address, self.motifmatch_address):
            if target not in self._channels:
                self._channels[target] = (
                    grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
                    if credentials is None
                    else grpc.secure_channel(target, credentials, options=_CHANNEL_OPTIONS)
                )
        self._trainer = trainer_pb2_grpc.TrainerServiceStub(self._channels[self.address])
        self._interpreter = interpreter_pb2_grpc.InterpreterServiceStub(
            self._channels[self.interpreter_address]
        )
        self._motifmatch = motifmatch_pb2_grpc.MotifMatchServiceStub(self._channels[self.motifmatch_address])
        self._local_stack: weakref.finalize | None = None
        #: The artifact store of a :meth:`local` stack ("" for a client of remote services).
        self.store_url = ""

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def local(
        cls,
        *,
        store: str | None = None,
        temporary: bool = False,
        base_port: int | None = None,
        timeout: float = 180.0,
    ) -> Self:
        """Start trainer, interpreter and motifmatch on loopback and connect to them.

        The stack runs as a subprocess, ``python -m services.launcher`` with this
        interpreter, which starts the three services as its own children, until
        :meth:`close` (or the end of a ``with`` block, or interpreter exit): close sends
        it SIGTERM (the services drain), then SIGKILLs its process group after
        :data:`LOCAL_STOP_GRACE_SECONDS`, so no process outlives the client. The launcher
        also stops by itself when this process dies. This module never imports ``services``.

        Parameters
        ----------
        store : str, optional
            Artifact store: a ``file://`` or ``s3://`` URL, or a directory path. Default:
            the stack's own default, which ``motiflens up`` uses too — ``MOTIFLENS_STORE``
            when set, else ``~/.motiflens/store`` — so data sets and models outlive the
            client (``client.store_url`` says where they are).
        temporary : bool, default False
            Use a new temporary directory instead, deleted on close (a warning says
            where it is and that it goes). Not with ``store``.
        base_port : int, optional
            Trainer port; interpreter and motifmatch take the next two. Default: three
            free consecutive ports.
        timeout : float, default 180
            Seconds to wait for the services to report SERVING (the launcher's start
            included).

        Returns
        -------
        Client
            Plaintext, no token. The servers get the caller's environment without
            ``MOTIFLENS_TOKEN`` and TLS settings; metrics ports are off and the log
            level is WARNING unless the environment sets them.

        Raises
        ------
        FailedPrecondition
            The ``services`` package (the full motiflens installation, with TensorFlow)
            is not importable.
        RuntimeError
            A service exited or did not become healthy within ``timeout``.
        """
        root = _services_root()
        if not timeout > 0:
            raise InvalidArgument(f"timeout: expected seconds > 0, got {timeout}")
        if temporary and store is not None:
            raise InvalidArgument("temporary: a temporary store is a new directory; leave store unset")
        store_dir = None
        store_url: str | None = None
        if temporary:
            store_dir = tempfile.mkdtemp(prefix="motiflens-store-")
            store_url = Path(store_dir).as_uri()
            logger.warning(
                "Client.local: temporary store %s; it is deleted when this client closes", store_dir
            )
        elif store is None:
            store_url = None  # the launcher's default (MOTIFLENS_STORE or ~/.motiflens/store)
        else:
            store_url = local_store_url(store)  # the one rule, shared with `motiflens up --store`
        env = dict(os.environ)
        for name in ("MOTIFLENS_TOKEN", "MOTIFLENS_TLS_CERT", "MOTIFLENS_TLS_KEY"):
            env.pop(name, None)
        for service in _LOCAL_SERVICES:
            env.setdefault(f"MOTIFLENS_{service.upper()}_METRICS_PORT", "-1")
        env.setdefault("MOTIFLENS_LOG_LEVEL", "WARNING")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
        host = "127.0.0.1"
        base = _free_base_port(host) if base_port is None else base_port
        ready_dir = tempfile.mkdtemp(prefix="motiflens-local-")
        ready_file = Path(ready_dir) / "ready.json"
        command = [
            sys.executable,
            "-m",
            "services.launcher",
            *(["--store", store_url] if store_url is not None else []),
            "--host",
            host,
            "--base-port",
            str(base),
            "--timeout",
            str(float(timeout)),
            "--ready-file",
            str(ready_file),
            "--quiet",
            "--exit-with-parent",
        ]
        process = None
        try:
            # Its own session: a Ctrl-C meant for this program does not reach the servers, and
            # close() can kill the launcher's whole group.
            process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
            ready = _wait_ready(process, ready_file, timeout + 30.0)  # + the launcher's own start
        except BaseException:
            if process is not None:
                _terminate(process, LOCAL_STOP_GRACE_SECONDS)
            shutil.rmtree(ready_dir, ignore_errors=True)
            if store_dir is not None:
                shutil.rmtree(store_dir, ignore_errors=True)
            raise
        addresses = ready.get("addresses", {})
        client = cls(
            addresses.get("trainer", f"{host}:{base}"),
            interpreter_address=addresses.get("interpreter"),
            motifmatch_address=addresses.get("motifmatch"),
        )
        client._local_stack = weakref.finalize(client, _stop_local_stack, process, ready_dir, store_dir)
        client.store_url = str(ready.get("store") or store_url or "")
        logger.info("local motiflens stack on %s:%d-%d, store %s", host, base, base + 2, client.store_url)
        return client

    def close(self) -> None:
        """Close the channels; for a :meth:`local` client also stop its services. Idempotent."""
        for channel in self._channels.values():
            channel.close()
        if self._local_stack is not None:
            self._local_stack()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Client({self.address!r}, interpreter_address={self.interpreter_address!r}, "
            f"motifmatch_address={self.motifmatch_address!r})"
        )

    # ------------------------------------------------------------------ calls and retries

    def _retry_delay(
        self, error: grpc.RpcError, attempt: int, deadline: float | None, rpc: str
    ) -> float | None:
        """Seconds to wait before retrying a failed call, or None to raise it now."""
        if error.code() != grpc.StatusCode.UNAVAILABLE or attempt >= self.retries:
            return None
        delay = BACKOFF_SECONDS * 2**attempt
        if deadline is not None and time.monotonic() + delay >= deadline:
            return None
        logger.warning(
            "%s: UNAVAILABLE (%s); retry %d of %d in %.1f s",
            rpc,
            error.details(),
            attempt + 1,
            self.retries,
            delay,
        )
        return delay

    def _unary(self, stub: Any, method: str, request: Any, *, timeout: float | None = None) -> Any:
        rpc = getattr(stub, method)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        attempt = 0
        while True:
            try:
                return rpc(request, timeout=max(deadline - time.monotonic(), 0.0), metadata=self._metadata)
            except grpc.RpcError as error:
                delay = self._retry_delay(error, attempt, deadline, method)
                if delay is None:
                    raise from_rpc_error(error) from None
            time.sleep(delay)
            attempt += 1

    def _all_pages(self, stub: Any, method: str, request: Any, field: str) -> list[Any]:
        """Every item of a paged List call, following ``next_page_token`` (one call per page)."""
        items: list[Any] = []
        request.page_size = LIST_PAGE_SIZE
        while True:
            response = self._unary(stub, method, request)
            items.extend(getattr(response, field))
            if not response.next_page_token:
                return items
            request.page_token = response.next_page_token

    def _client_stream(
        self,
        stub: Any,
        method: str,
        make_requests: Callable[[], Iterator[Any]],
        *,
        timeout: float | None = None,
    ) -> Any:
        """One call of a client-streaming RPC; a retry sends a fresh ``make_requests()`` stream."""
        rpc = getattr(stub, method)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        attempt = 0
        while True:
            try:
                remaining = max(deadline - time.monotonic(), 0.0)
                return rpc(make_requests(), timeout=remaining, metadata=self._metadata)
            except grpc.RpcError as error:
                delay = self._retry_delay(error, attempt, deadline, method)
                if delay is None:
                    raise from_rpc_error(error) from None
            time.sleep(delay)
            attempt += 1

    def _stream(
        self,
        stub: Any,
        method: str,
        request: Any,
        *,
        timeout: float | None,
        patient: bool = False,
        give_up: Callable[[], bool] | None = None,
    ) -> Iterator[Any]:
        """Messages of a server stream; on UNAVAILABLE the stream restarts from the beginning.

        A restart repeats messages already yielded, so callers de-duplicate (by chunk
        offset or epoch number). ``timeout`` None: no deadline. ``patient`` (watching a
        job): UNAVAILABLE (a restart, a store outage) and RESOURCE_EXHAUSTED (the
        server's stream limit) are retried for as long as the deadline allows, with
        back-off capped at :data:`PATIENT_BACKOFF_CAP_SECONDS`, instead of ``retries`` times.
        ``give_up`` is asked before each retry; True ends the stream quietly (a watched
        job that ended while no stream slot was free).
        """
        rpc = getattr(stub, method)
        deadline = None if timeout is None else time.monotonic() + timeout
        attempt = 0
        while True:
            remaining = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            call = rpc(request, timeout=remaining, metadata=self._metadata)
            try:
                for message in call:
                    attempt = 0  # progress was made: a later outage gets the full retries
                    yield message
                return
            except grpc.RpcError as error:
                delay = (
                    _patient_delay(error, attempt, deadline)
                    if patient
                    else self._retry_delay(error, attempt, deadline, method)
                )
                if delay is None:
                    raise from_rpc_error(error) from None
            finally:
                call.cancel()
            time.sleep(delay)
            if give_up is not None and give_up():
                return
            attempt += 1
