"""The motiflens client SDK: :class:`Client` for the three services and :class:`Job` for training jobs.

::

    from motiflens_client import Client, DatasetSplit

    with Client("127.0.0.1:50051") as client:          # or Client.local() to start a stack
        data = client.create_task(1, num_sequences=3000, seed=0)
        job = client.train(data.dataset_id, architecture="cnn_local", activation="exponential")
        info = job.wait(progress=True)                  # raises JobFailed if it fails
        filters = client.filters(info.model_id, DatasetSplit(data.dataset_id))
        match = client.match_filters(filters, ground_truth="task1")  # Task 1's planted TFs
        X_attr = client.attribute(info.model_id, ["ACGT" * 50], method="saliency")  # (1, 200, 4)

Behaviour of every call:

- a deadline of ``timeout`` seconds (the client's, or the call's own ``timeout``
  argument where it has one), covering the retries;
- UNAVAILABLE is retried up to ``retries`` times with exponential backoff (0.2 s,
  0.4 s, 0.8 s, ...), as long as the deadline allows; every other code raises at once.
  Watching a job (``Job.events``, ``Job.wait``) is patient: UNAVAILABLE (a restart, a
  store outage) and RESOURCE_EXHAUSTED (the server's stream limit) are retried until
  the wait's own timeout, every 5 s at most;
- every gRPC error is raised as a :class:`~motiflens_client.errors.MotiflensClientError`
  subclass (``NotFound``, ``InvalidArgument``, ...);
- with a ``token``, every call carries ``authorization: Bearer <token>``.

Needs grpcio, protobuf and numpy only; TensorFlow is never imported (``Client.local``
starts the servers as separate processes).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import grpc
import numpy as np

from motiflens_client import _convert
from motiflens_client._tensors import (
    array_to_tensor,
    reassemble,
    sequences_to_proto,
    split_ref,
    tensor_to_array,
)
from motiflens_client.errors import (
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    JobFailed,
    MotiflensClientError,
    from_rpc_error,
)
from motiflens_client.types import (
    CompareResult,
    DatabaseInfo,
    DatasetInfo,
    DatasetSplit,
    EpochEvent,
    FilterMotif,
    Filters,
    Interpretability,
    JobInfo,
    LocalizeResult,
    MatchResult,
    ModelInfo,
    SweepInfo,
)
from motiflens_client.wire import pb, vocabulary
from motiflens_client.wire.pb import (
    interpreter_pb2_grpc,
    motifmatch_pb2,
    motifmatch_pb2_grpc,
    trainer_pb2_grpc,
)
from motiflens_client.wire.vocabulary import DISTANCE_BY_NAME

__all__ = ["Client", "Job", "BACKOFF_SECONDS"]

logger = logging.getLogger(__name__)

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
]


def _choice(table: Mapping[str, int], value: str, field: str) -> int:
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


def _text_or_file(value: str | os.PathLike) -> str:
    """The text of ``value``: a path's content when it names an existing file, else ``value`` itself."""
    if isinstance(value, os.PathLike):
        return Path(value).read_text()
    if "\n" not in value and len(value) < 4096:
        path = Path(value).expanduser()
        try:
            if path.is_file():
                return path.read_text()
        except OSError:
            pass
    return value


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


def _stop_local_stack(running: list, launcher: Any, store_dir: str | None) -> None:
    launcher.stop_suite(running)
    if store_dir is not None:
        shutil.rmtree(store_dir, ignore_errors=True)


class Client:
    """Client of the trainer, interpreter and motifmatch services.

    Parameters
    ----------
    address : str, default "127.0.0.1:50051"
        Trainer ``host:port``.
    interpreter_address, motifmatch_address : str, optional
        Default: the trainer's host with port + 1 and port + 2 (the ``make up`` layout).
    token : str, optional
        Bearer token sent as ``authorization: Bearer <token>`` on every call.
    tls : bool, str or os.PathLike, optional
        None/False: plaintext; True: TLS with the system's root certificates; a path:
        TLS trusting the PEM root certificate in that file.
    timeout : float, default 60.0
        Deadline of each call in seconds, retries included (calls with their own
        ``timeout`` argument use it instead).
    retries : int, default 3
        Retries of a call that failed with UNAVAILABLE (backoff 0.2 s, 0.4 s, 0.8 s, ...).
        Other codes are never retried.

    Raises
    ------
    InvalidArgument
        A non-positive timeout, negative retries, an address without a port when the
        others must be derived from it, or an unreadable certificate file.

    Notes
    -----
    The environment (e.g. ``MOTIFLENS_ADDRESS``) is not read; the CLI does that.
    Use as a context manager, or call :meth:`close`.
    """

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

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def local(
        cls, *, store: str | None = None, base_port: int | None = None, timeout: float = 180.0
    ) -> Client:
        """Start trainer, interpreter and motifmatch on loopback and connect to them.

        The services run as three background processes (``services.launcher.start_suite``)
        until :meth:`close` (or the end of a ``with`` block, or interpreter exit).

        Parameters
        ----------
        store : str, optional
            Artifact store: a ``file://`` or ``s3://`` URL, or a directory path. Default:
            a new temporary directory, deleted on close.
        base_port : int, optional
            Trainer port; interpreter and motifmatch take the next two. Default: three
            free consecutive ports.
        timeout : float, default 180
            Seconds to wait for the services to report SERVING.

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
        try:
            from services import launcher
        except ImportError as error:
            raise FailedPrecondition(
                "Client.local() runs the services from this Python environment and needs the full "
                "motiflens installation (the `services` package); install motiflens, or connect to "
                f"running servers with Client(address) ({error})"
            ) from error
        store_dir = None
        if store is None:
            store_dir = tempfile.mkdtemp(prefix="motiflens-store-")
            store_url = Path(store_dir).as_uri()
        elif "://" in store:
            store_url = store
        else:
            store_url = Path(store).expanduser().resolve().as_uri()
        env = dict(os.environ)
        for name in ("MOTIFLENS_TOKEN", "MOTIFLENS_TLS_CERT", "MOTIFLENS_TLS_KEY"):
            env.pop(name, None)
        for service in launcher.SERVICES:
            env.setdefault(f"MOTIFLENS_{service.upper()}_METRICS_PORT", "-1")
        env.setdefault("MOTIFLENS_LOG_LEVEL", "WARNING")
        root = str(Path(launcher.__file__).resolve().parents[1])  # so `python -m services.x` works anywhere
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        host = "127.0.0.1"
        base = _free_base_port(host) if base_port is None else base_port
        try:
            running = launcher.start_suite(
                store=store_url, host=host, base_port=base, timeout=timeout, env=env
            )
        except BaseException:
            if store_dir is not None:
                shutil.rmtree(store_dir, ignore_errors=True)
            raise
        client = cls(f"{host}:{base}")
        client._local_stack = weakref.finalize(client, _stop_local_stack, running, launcher, store_dir)
        logger.info("local motiflens stack on %s:%d-%d, store %s", host, base, base + 2, store_url)
        return client

    def close(self) -> None:
        """Close the channels; for a :meth:`local` client also stop its services. Idempotent."""
        for channel in self._channels.values():
            channel.close()
        if self._local_stack is not None:
            self._local_stack()

    def __enter__(self) -> Client:
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

    # ------------------------------------------------------------------ trainer

    def create_task(
        self, task: int, *, num_sequences: int = 0, seed: int = 0, sequence_length: int = 0, name: str = ""
    ) -> DatasetInfo:
        """Generate one of the paper's synthetic tasks and store it.

        Parameters
        ----------
        task : int
            1 (12 TF motifs, multi-label) or 3 (regulatory code, binary).
        num_sequences : int, default 0
            Total sequences, split 0.7/0.1/0.2 (0: 30,000 for Task 1, 20,000 for Task 3).
        seed : int, default 0
        sequence_length : int, default 0
            nt per sequence (0: 200).
        name : str, default ""
            Display name.

        Returns
        -------
        DatasetInfo

        Raises
        ------
        InvalidArgument
            Another task number or bad sizes.
        ResourceExhausted
            Over the server's size limit.
        """
        if task not in _TASKS:
            raise InvalidArgument(f"task: expected 1 or 3, got {task!r}")
        request = pb.CreateDatasetRequest(
            name=name,
            synthetic=pb.SyntheticSpec(
                task=_TASKS[task], num_sequences=num_sequences, seed=seed, sequence_length=sequence_length
            ),
        )
        return _convert.dataset_info(self._unary(self._trainer, "CreateDataset", request).dataset)

    def import_hdf5(
        self, path: str | os.PathLike, *, reverse_complement: bool = False, name: str = ""
    ) -> DatasetInfo:
        """Upload an HDF5 file in the paper's layout (X_train, Y_train, ..., X as (N, 4, L) or (N, L, 4)).

        Parameters
        ----------
        path : str or os.PathLike
            The file; sent whole (bounded by the server's maximum message size).
        reverse_complement : bool, default False
            Augment the training split with reverse complements.
        name : str, default ""

        Returns
        -------
        DatasetInfo

        Raises
        ------
        OSError
            The file cannot be read.
        InvalidArgument
            Malformed HDF5 (the message names the dataset inside the file).
        """
        content = Path(path).expanduser().read_bytes()
        request = pb.CreateDatasetRequest(
            name=name, hdf5=pb.Hdf5Import(content=content, reverse_complement=reverse_complement)
        )
        return _convert.dataset_info(self._unary(self._trainer, "CreateDataset", request).dataset)

    def import_fasta(
        self,
        fasta: str | os.PathLike,
        labels: np.ndarray,
        *,
        seed: int = 0,
        reverse_complement: bool = False,
        name: str = "",
    ) -> DatasetInfo:
        """Upload FASTA sequences with labels; the server splits them 0.7/0.1/0.2.

        Parameters
        ----------
        fasta : str or os.PathLike
            A path when it names an existing file, else FASTA text. All records of one length.
        labels : np.ndarray, shape (N, T) or (N,)
            One row per record; int8 is sent as is, anything else as float32. (N,) means T = 1.
        seed : int, default 0
            Seed of the random split.
        reverse_complement : bool, default False
            Augment the training split with reverse complements.
        name : str, default ""

        Returns
        -------
        DatasetInfo

        Raises
        ------
        InvalidArgument
            Bad bases (the message gives the line), unequal lengths, fewer than 10
            records, or labels whose row count differs from the records'.
        """
        labels = np.asarray(labels)
        if labels.ndim == 1:
            labels = labels.reshape(-1, 1)
        if labels.dtype != np.int8:
            labels = labels.astype(np.float32)
        request = pb.CreateDatasetRequest(
            name=name,
            fasta=pb.FastaImport(
                fasta=_text_or_file(fasta),
                labels=array_to_tensor(labels, field="labels"),
                seed=seed,
                reverse_complement=reverse_complement,
            ),
        )
        return _convert.dataset_info(self._unary(self._trainer, "CreateDataset", request).dataset)

    def get_dataset(self, dataset_id: str) -> DatasetInfo:
        """Describe a stored data set.

        Raises
        ------
        InvalidArgument
            Malformed id.
        NotFound
            Unknown id.
        """
        request = pb.GetDatasetRequest(dataset_id=dataset_id)
        return _convert.dataset_info(self._unary(self._trainer, "GetDataset", request).dataset)

    def list_datasets(self) -> list[DatasetInfo]:
        """Every stored data set, newest first."""
        response = self._unary(self._trainer, "ListDatasets", pb.ListDatasetsRequest())
        return [_convert.dataset_info(message) for message in response.datasets]

    def train(
        self,
        dataset_id: str,
        *,
        architecture: str = "cnn_deep",
        activation: str = "relu",
        activation_params: Mapping[str, float] | None = None,
        initializer: str = "",
        initializer_std: float = 0.0,
        width_multiplier: int = 0,
        seed: int = 0,
        first_layer_l2: float | None = None,
        epochs: int = 0,
        batch_size: int = 0,
        learning_rate: float = 0.0,
        patience: int = 0,
        name: str = "",
    ) -> Job:
        """Queue a training job; returns at once.

        Parameters
        ----------
        dataset_id : str
        architecture : str, default "cnn_deep"
            cnn_2, cnn_50, cnn_deep, cnn_local, cnn_dist, basset or residualbind.
        activation : str, default "relu"
            First-layer activation, e.g. "exponential".
        activation_params : mapping of str to float, optional
            E.g. ``{"scale": 2.0}``.
        initializer : str, default "" (glorot_uniform)
        initializer_std : float, default 0.0
            Standard deviation for random_normal.
        width_multiplier : int, default 0 (1)
        seed : int, default 0
        first_layer_l2 : float, optional
            L2 strength on the first-layer kernel (default: the activation's own, 0.2 for
            log_relu, else 1e-6); e.g. 0.2 with relu for the paper's log_relu control.
        epochs : int, default 0 (100)
        batch_size : int, default 0 (100)
        learning_rate : float, default 0.0 (1e-3)
        patience : int, default 0 (20; negative: no early stopping)
        name : str, default ""
            Name of the resulting model.

        Returns
        -------
        Job

        Raises
        ------
        InvalidArgument
            Unknown architecture, activation or initializer; bad parameters.
        NotFound
            Unknown data set.
        ResourceExhausted
            The job queue is full.
        """
        request = pb.TrainRequest(
            dataset_id=dataset_id,
            model=pb.ModelSpec(
                architecture=architecture,
                activation=activation,
                activation_params={str(k): float(v) for k, v in (activation_params or {}).items()},
                initializer=initializer,
                initializer_std=initializer_std,
                width_multiplier=width_multiplier,
                seed=seed,
                first_layer_l2=first_layer_l2,
            ),
            training=pb.TrainingSpec(
                epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience
            ),
            name=name,
        )
        return Job(self, self._unary(self._trainer, "Train", request).job_id)

    def job(self, job_id: str) -> Job:
        """A handle on an existing job (checked with one GetJob call).

        Raises
        ------
        InvalidArgument
            Malformed id.
        NotFound
            Unknown id.
        """
        job = Job(self, job_id)
        job.info()
        return job

    def list_jobs(self) -> list[JobInfo]:
        """Every job, newest first."""
        response = self._unary(self._trainer, "ListJobs", pb.ListJobsRequest())
        return [_convert.job_info(message) for message in response.jobs]

    def list_models(self, dataset_id: str = "") -> list[ModelInfo]:
        """Trained models, newest first; only those of ``dataset_id`` when given.

        Raises
        ------
        InvalidArgument, NotFound
            Malformed or unknown ``dataset_id``.
        """
        response = self._unary(self._trainer, "ListModels", pb.ListModelsRequest(dataset_id=dataset_id))
        return [_convert.model_info(message) for message in response.models]

    def sweep(
        self,
        dataset_id: str,
        *,
        architectures: Sequence[str],
        activations: Sequence[str | tuple[str, Mapping[str, float]]],
        seeds: Sequence[int] = (),
        initializers: Sequence[str] = (),
        initializer_std: float = 0.0,
        width_multiplier: int = 0,
        first_layer_l2: float | None = None,
        epochs: int = 0,
        batch_size: int = 0,
        learning_rate: float = 0.0,
        patience: int = 0,
        name: str = "",
        parallelism: int = 0,
        gpu: bool = False,
    ) -> Sweep:
        """Start a sweep: one training job per (architecture, activation, initializer, seed).

        Out of a cluster the trainer's worker processes run the jobs; in a cluster the
        trainer creates one Kubernetes Indexed Job (one pod per configuration). Returns
        at once.

        Parameters
        ----------
        dataset_id : str
        architectures : sequence of str
            E.g. ``["cnn_2", "cnn_50", "cnn_deep"]``.
        activations : sequence of str or (str, mapping)
            Names, or (name, parameters) pairs such as ``("scaled_exponential", {"scale": 2})``.
        seeds : sequence of int, default () ([0])
        initializers : sequence of str, default () (["glorot_uniform"])
        initializer_std, width_multiplier, first_layer_l2
            Shared by every configuration (see :meth:`train`).
        epochs, batch_size, learning_rate, patience
            Shared training settings (0: the paper's defaults).
        name : str, default ""
            Prefix of the model names ("<name>/<architecture>/<activation>/<initializer>/seed<seed>").
        parallelism : int, default 0
            Pods at once in a cluster (0: the server's default).
        gpu : bool, default False
            In a cluster: GPU nodes and the GPU image.

        Returns
        -------
        Sweep

        Raises
        ------
        InvalidArgument
            An empty or repeated axis, or any value ``train`` would reject.
        NotFound
            Unknown data set.
        ResourceExhausted
            More configurations than the server accepts in one sweep.
        FailedPrecondition
            ``gpu`` without a GPU image, or the cluster refused the Job.
        """
        choices = []
        for item in activations:
            activation, params = (item, {}) if isinstance(item, str) else item
            choices.append(
                pb.ActivationChoice(
                    name=activation, params={str(k): float(v) for k, v in dict(params or {}).items()}
                )
            )
        request = pb.SweepRequest(
            dataset_id=dataset_id,
            architectures=list(architectures),
            activations=choices,
            seeds=[int(seed) for seed in seeds],
            initializers=list(initializers),
            base_model=pb.ModelSpec(
                initializer_std=initializer_std,
                width_multiplier=width_multiplier,
                first_layer_l2=first_layer_l2,
            ),
            training=pb.TrainingSpec(
                epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, patience=patience
            ),
            name=name,
            parallelism=parallelism,
            gpu=gpu,
        )
        response = self._unary(self._trainer, "Sweep", request)
        return Sweep(self, response.sweep.sweep_id)

    def get_sweep(self, sweep_id: str) -> Sweep:
        """A handle on an existing sweep (checked with one GetSweep call).

        Raises
        ------
        InvalidArgument, NotFound
            Malformed or unknown id.
        """
        sweep = Sweep(self, sweep_id)
        sweep.info()
        return sweep

    def list_sweeps(self) -> list[SweepInfo]:
        """Every sweep, newest first."""
        response = self._unary(self._trainer, "ListSweeps", pb.ListSweepsRequest())
        return [_convert.sweep_info(message) for message in response.sweeps]

    def save_result(self, name: str, result: dict) -> str:
        """Store a JSON-serialisable result (e.g. an experiment's) in the artifact store.

        Returns
        -------
        str
            The result id (``result-...``), for :meth:`get_result`.

        Raises
        ------
        InvalidArgument
            Not JSON-serialisable, empty or larger than 16 MiB.
        """
        try:
            text = json.dumps(result, allow_nan=True)
        except (TypeError, ValueError) as error:
            raise InvalidArgument(f"result: not JSON-serialisable ({error})") from None
        response = self._unary(self._trainer, "PutResult", pb.PutResultRequest(name=name, json=text))
        return response.result_id

    def get_result(self, result_id: str) -> dict:
        """A result stored with :meth:`save_result`, as the dict it was saved from.

        Raises
        ------
        InvalidArgument, NotFound
            Malformed or unknown ``result_id``.
        """
        response = self._unary(self._trainer, "GetResult", pb.GetResultRequest(result_id=result_id))
        return json.loads(response.json)

    # ------------------------------------------------------------------ interpreter

    def predict(
        self,
        model_id: str,
        sequences: Sequence[str] | np.ndarray | DatasetSplit,
        *,
        output: str = "probability",
    ) -> np.ndarray:
        """Model outputs for sequences.

        Parameters
        ----------
        model_id : str
        sequences : list of str, np.ndarray of shape (N, L, 4), or DatasetSplit
            DNA strings (A, C, G, T, N; one length), one-hot ``X`` or stored sequences.
        output : str, default "probability"
            "probability" (sigmoid) or "logit".

        Returns
        -------
        np.ndarray, shape (N, T), float32

        Raises
        ------
        InvalidArgument
            Bad bases or lengths (the message names ``sequences...[i]``), a wrong shape.
        NotFound
            Unknown model.
        """
        request = pb.PredictRequest(
            model_id=model_id,
            sequences=sequences_to_proto(sequences),
            output=_choice(_OUTPUTS, output, "output"),
        )
        response = self._unary(self._interpreter, "Predict", request)
        return tensor_to_array(response.predictions, field="predictions")

    def filters(
        self,
        model_id: str,
        sequences: Sequence[str] | np.ndarray | DatasetSplit,
        *,
        threshold: float = 0.0,
        window: int = 0,
        logos: bool = False,
    ) -> Filters:
        """First-layer filters as PWMs, by aligning the sites that activate them.

        Parameters
        ----------
        model_id : str
        sequences : list of str, np.ndarray of shape (N, L, 4), or DatasetSplit
            Sequences to scan (the paper used the test split).
        threshold : float, default 0.0 (0.5)
            Fraction of each filter's maximum a site must exceed.
        window : int, default 0 (the filter width)
            Site window in nt.
        logos : bool, default False
            Also render a PNG logo per filter (``FilterMotif.logo_png``).

        Returns
        -------
        Filters
            F filters, PWMs of shape (window, 4), and their MEME text.
        """
        request = pb.FilterMotifsRequest(
            model_id=model_id,
            sequences=sequences_to_proto(sequences),
            threshold=threshold,
            window=window,
            include_logos=logos,
        )
        return _convert.filters(self._unary(self._interpreter, "FilterMotifs", request))

    def attribute(
        self,
        model_id: str,
        sequences: Sequence[str] | np.ndarray | DatasetSplit,
        *,
        method: str = "saliency",
        target: int = 0,
        output: str = "logit",
        reference: str = "shuffle",
        num_references: int = 0,
        num_steps: int = 0,
        seed: int = 0,
        times_input: bool = False,
        chunk_size: int = 0,
        timeout: float | None = None,
    ) -> np.ndarray:
        """Attribution maps, streamed in chunks and reassembled by offset.

        Parameters
        ----------
        model_id : str
        sequences : list of str, np.ndarray of shape (N, L, 4), or DatasetSplit
        method : str, default "saliency"
            "saliency", "ism", "integrated_gradients" or "deepshap".
        target : int, default 0
            Output unit.
        output : str, default "logit"
            "logit" or "probability".
        reference : str, default "shuffle"
            References of integrated gradients and DeepSHAP: "shuffle" or "dinucleotide".
        num_references : int, default 0 (10)
        num_steps : int, default 0 (20)
            Integration steps.
        seed : int, default 0
        times_input : bool, default False
            Multiply saliency by the input.
        chunk_size : int, default 0 (64)
            Sequences per streamed chunk; never changes the result.
        timeout : float, optional
            Seconds for the whole stream (default: the client's timeout).

        Returns
        -------
        X_attr : np.ndarray, shape (N, L, 4), float32
        """
        request = pb.AttributeRequest(
            model_id=model_id,
            sequences=sequences_to_proto(sequences),
            method=_choice(_METHODS, method, "method"),
            target=target,
            output=_choice(_OUTPUTS, output, "output"),
            reference=_choice(_REFERENCES, reference, "reference"),
            num_references=num_references,
            num_steps=num_steps,
            seed=seed,
            times_input=times_input,
            chunk_size=chunk_size,
        )
        chunks = {
            chunk.offset: tensor_to_array(chunk.scores, field="scores")
            for chunk in self._stream(
                self._interpreter, "Attribute", request, timeout=self.timeout if timeout is None else timeout
            )
        }
        return reassemble(chunks, field="scores")

    def scan_filters(
        self,
        model_id: str,
        sequences: Sequence[str] | np.ndarray | DatasetSplit,
        *,
        chunk_size: int = 0,
        timeout: float | None = None,
    ) -> np.ndarray:
        """Post-activation first-layer scans, streamed in chunks and reassembled.

        Parameters
        ----------
        model_id : str
        sequences : list of str, np.ndarray of shape (N, L, 4), or DatasetSplit
        chunk_size : int, default 0 (64)
        timeout : float, optional
            Seconds for the whole stream (default: the client's timeout).

        Returns
        -------
        np.ndarray, shape (N, L, F), float32
        """
        request = pb.ScanFiltersRequest(
            model_id=model_id, sequences=sequences_to_proto(sequences), chunk_size=chunk_size
        )
        chunks = {
            chunk.offset: tensor_to_array(chunk.scans, field="scans")
            for chunk in self._stream(
                self._interpreter,
                "ScanFilters",
                request,
                timeout=self.timeout if timeout is None else timeout,
            )
        }
        return reassemble(chunks, field="scans")

    def localize(
        self, model_id: str, dataset: DatasetSplit | str, *, padding: int = 0, pwm_baseline: bool = False
    ) -> LocalizeResult:
        """Motif localisation AUROC of the first-layer scans against a synthetic ground truth.

        Parameters
        ----------
        model_id : str
        dataset : DatasetSplit or str
            Stored sequences of a synthetic data set; a data set id means its test split.
        padding : int, default 0 (10)
            Padding of motif regions in nt.
        pwm_baseline : bool, default False
            Also score the ground-truth PWM scan baseline.

        Returns
        -------
        LocalizeResult

        Raises
        ------
        FailedPrecondition
            The data set has no ground truth.
        """
        request = pb.LocalizeRequest(
            model_id=model_id,
            sequences=split_ref(dataset),
            padding=padding,
            include_pwm_baseline=pwm_baseline,
        )
        return _convert.localize_result(self._unary(self._interpreter, "Localize", request))

    def interpretability(
        self,
        model_id: str,
        dataset: DatasetSplit | str,
        *,
        method: str = "saliency",
        target: int = 0,
        output: str = "logit",
        reference: str = "shuffle",
        num_references: int = 0,
        num_steps: int = 0,
        seed: int = 0,
        positives_only: bool = True,
        timeout: float | None = None,
    ) -> Interpretability:
        """Interpretability AUROC/AUPR of an attribution method against a synthetic ground truth.

        Parameters
        ----------
        model_id : str
        dataset : DatasetSplit or str
            Stored sequences of a synthetic data set; a data set id means its test split.
        method, target, output, reference, num_references, num_steps, seed
            As for :meth:`attribute`.
        positives_only : bool, default True
            Score only sequences whose label ``target`` is positive (the paper's choice).
        timeout : float, optional
            Seconds (default: the client's timeout).

        Returns
        -------
        Interpretability
            Per-sequence arrays of shape (n,), n the sequences scored.

        Raises
        ------
        FailedPrecondition
            The data set has no ground truth.
        InvalidArgument
            No sequence selected.
        """
        request = pb.ScoreInterpretabilityRequest(
            model_id=model_id,
            sequences=split_ref(dataset),
            method=_choice(_METHODS, method, "method"),
            target=target,
            output=_choice(_OUTPUTS, output, "output"),
            reference=_choice(_REFERENCES, reference, "reference"),
            num_references=num_references,
            num_steps=num_steps,
            seed=seed,
            positives_only=positives_only,
        )
        response = self._unary(self._interpreter, "ScoreInterpretability", request, timeout=timeout)
        return _convert.interpretability(response, method=method)

    # ------------------------------------------------------------------ motifmatch

    def databases(self) -> list[DatabaseInfo]:
        """JASPAR releases (CORE vertebrates, with motif counts), then uploaded databases."""
        response = self._unary(self._motifmatch, "ListDatabases", pb.ListDatabasesRequest())
        return [_convert.database_info(message) for message in response.databases]

    def tomtom(
        self,
        queries: str | Sequence[tuple[str, np.ndarray]] | Filters,
        *,
        database: str = DEFAULT_DATABASE,
        collection: str = "",
        tax_group: str = "",
        evalue_threshold: float = 0.0,
        qvalue_threshold: float = 0.0,
        trim: bool = False,
        distance: str = "ed",
    ) -> CompareResult:
        """Tomtom (MEME Tomtom 5's statistics) of query motifs against one database.

        Parameters
        ----------
        queries : str, sequence of (str, np.ndarray) pairs, or Filters
            MEME text; ``(motif_id, pwm)`` pairs with pwm of shape (W, 4), columns A, C,
            G, T, rows summing to 1 (:class:`FilterMotif` items work too); or filters.
        database : str, default "JASPAR2016"
            JASPAR release or an uploaded database id.
        collection : str, default "" (CORE)
        tax_group : str, default "" (vertebrates; "all" for every group)
        evalue_threshold : float, default 0.0 (0.1)
        qvalue_threshold : float, default 0.0
            When > 0, filter by q-value instead.
        trim : bool, default False
            Trim queries to informative columns first (untrimmable queries are skipped).
        distance : {"ed", "pearson"}, default "ed"
            MEME's ``-dist``: Euclidean distance (MEME 5's default, as the paper ran
            Tomtom) or Pearson correlation.

        Returns
        -------
        CompareResult
        """
        request = pb.CompareRequest(
            database=pb.DatabaseRef(database_id=database, collection=collection, tax_group=tax_group),
            evalue_threshold=evalue_threshold,
            qvalue_threshold=qvalue_threshold,
            trim=trim,
            distance=_distance(distance),
        )
        _set_queries(request, queries)
        return _convert.compare_result(self._unary(self._motifmatch, "Compare", request))

    def match_filters(
        self,
        filters: Filters | str,
        *,
        num_filters: int = 0,
        database: str = DEFAULT_DATABASE,
        evalue_threshold: float = 0.0,
        trim: bool = True,
        ground_truth: Mapping[str, Sequence[str]] | str | None = None,
        distance: str = "ed",
    ) -> MatchResult:
        """Ground-truth and any-database match fractions of first-layer filters.

        Parameters
        ----------
        filters : Filters or str
            Filters, or their MEME text (ids ``filter<index>``).
        num_filters : int, default 0
            The denominator: first-layer filters (0: ``len(filters.filters)`` for
            Filters, the number of motifs in the MEME text otherwise).
        database : str, default "JASPAR2016"
        evalue_threshold : float, default 0.0 (0.1)
        trim : bool, default True
            Trim the filters first, as the paper did.
        ground_truth : mapping of str to list of str, "task1", or None
            TF name -> database ids counting as that TF; ``"task1"`` for the paper's Task 1
            map (12 TFs); None (default): no ground truth, so ``match_fraction`` is None
            (a data set without planted motifs has no ground-truth fraction).
        distance : {"ed", "pearson"}, default "ed"
            As for :meth:`tomtom`.

        Returns
        -------
        MatchResult
        """
        request = pb.MatchFiltersRequest(
            database=pb.DatabaseRef(database_id=database),
            evalue_threshold=evalue_threshold,
            no_trim=not trim,
            distance=_distance(distance),
        )
        if isinstance(filters, Filters):
            request.meme = filters.meme
            num_filters = num_filters or len(filters.filters)
        elif isinstance(filters, str):
            request.meme = filters
        else:
            raise InvalidArgument(f"filters: expected Filters or MEME text, got {type(filters).__name__}")
        request.num_filters = num_filters
        if isinstance(ground_truth, str):
            if ground_truth != "task1":
                raise InvalidArgument(
                    "ground_truth: expected a mapping of TF -> motif ids, 'task1' or None, "
                    f"got {ground_truth!r}"
                )
            request.ground_truth_map = motifmatch_pb2.GROUND_TRUTH_MAP_TASK1
            ground_truth = None
        for tf, motif_ids in (ground_truth or {}).items():
            ids = [motif_ids] if isinstance(motif_ids, str) else list(motif_ids)
            request.ground_truth.append(pb.GroundTruthEntry(tf=tf, motif_ids=ids))
        return _convert.match_result(self._unary(self._motifmatch, "MatchFilters", request))

    def upload_database(self, name: str, meme: str | os.PathLike) -> DatabaseInfo:
        """Store a MEME file as a new motif database for :meth:`tomtom`.

        Parameters
        ----------
        name : str
            Display name.
        meme : str or os.PathLike
            A path when it names an existing file, else MEME minimal-format text.

        Returns
        -------
        DatabaseInfo
            ``database_id`` is ``"db-..."``.

        Raises
        ------
        InvalidArgument
            Unparseable MEME text or a bad name.
        """
        request = pb.UploadDatabaseRequest(name=name, meme=_text_or_file(meme))
        return _convert.database_info(self._unary(self._motifmatch, "UploadDatabase", request).database)


def _distance(distance: str) -> int:
    """The wire Distance of MEME's ``-dist`` name; InvalidArgument for another name."""
    if distance not in DISTANCE_BY_NAME:
        raise InvalidArgument(
            f"distance: expected one of {', '.join(DISTANCE_BY_NAME)} (MEME's -dist), got {distance!r}"
        )
    return DISTANCE_BY_NAME[distance]


def _set_queries(request: pb.CompareRequest, queries: Any) -> None:
    if isinstance(queries, Filters):
        request.meme = queries.meme
        return
    if isinstance(queries, str):
        request.meme = queries
        return
    try:
        items = list(queries)
    except TypeError:
        raise InvalidArgument(
            f"queries: expected MEME text, (id, pwm) pairs or Filters, got {type(queries).__name__}"
        ) from None
    if not items:
        raise InvalidArgument("queries: expected at least one motif, got none")
    motifs = request.motifs
    for index, item in enumerate(items):
        nsites = 0
        if isinstance(item, FilterMotif):
            motif_id, pwm, nsites = item.motif_id, item.pwm, item.num_sites
        else:
            try:
                motif_id, pwm = item
            except (TypeError, ValueError):
                raise InvalidArgument(f"queries[{index}]: expected a (motif_id, pwm) pair") from None
        pwm = np.asarray(pwm, dtype=np.float64)
        if pwm.ndim != 2 or pwm.shape[1] != 4:
            raise InvalidArgument(f"queries[{index}].pwm: expected shape (W, 4), got {pwm.shape}")
        motifs.motifs.append(
            pb.Motif(id=str(motif_id), pwm=array_to_tensor(pwm, field=f"queries[{index}].pwm"), nsites=nsites)
        )


# ---------------------------------------------------------------------------- jobs


def _in_notebook() -> bool:
    """True inside a Jupyter/IPython kernel (not a terminal IPython)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001 - a broken IPython only means "not a notebook"
        return False
    return shell is not None and hasattr(shell, "kernel")


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _Progress:
    """A text progress display of a job on a stream: a carriage-return bar, or one line per epoch."""

    width = 24

    def __init__(self, job_id: str, total_epochs: int, stream: TextIO, *, lines: bool) -> None:
        self.job_id = job_id
        self.total = total_epochs
        self.stream = stream
        self.lines = lines
        self.shown = False

    def update(self, event: EpochEvent) -> None:
        total = max(self.total, event.epoch)
        filled = round(self.width * event.epoch / total) if total else self.width
        bar = "#" * filled + "-" * (self.width - filled)
        text = (
            f"{self.job_id} epoch {event.epoch}/{total} [{bar}] loss {event.loss:.4f} "
            f"val AUPR {event.val_aupr:.3f} AUROC {event.val_auroc:.3f}"
        )
        self.stream.write(text + "\n" if self.lines else f"\r{text}")
        self.stream.flush()
        self.shown = True

    def finish(self, info: JobInfo) -> None:
        end = "\n" if self.shown and not self.lines else ""
        text = f"{info.job_id} {info.state} after {info.epochs_done} epochs"
        if info.test_metrics is not None:
            text += f": test AUROC {info.test_metrics.auroc:.3f} AUPR {info.test_metrics.aupr:.3f}"
        elif info.error:
            text += f": {info.error}"
        self.stream.write(f"{end}{text}\n")
        self.stream.flush()


class Job:
    """A training job on the trainer service.

    Parameters
    ----------
    client : Client
    job_id : str

    Attributes
    ----------
    job_id : str
    last_info : JobInfo or None
        The final state, once :meth:`events` has run to the end.
    """

    def __init__(self, client: Client, job_id: str) -> None:
        self.client = client
        self.job_id = job_id
        self.last_info: JobInfo | None = None

    def __repr__(self) -> str:
        return f"Job({self.job_id!r})"

    def _get(self) -> pb.Job:
        client = self.client
        return client._unary(client._trainer, "GetJob", pb.GetJobRequest(job_id=self.job_id)).job

    def info(self) -> JobInfo:
        """The job's current state.

        Raises
        ------
        InvalidArgument, NotFound
            Malformed or unknown job id.
        """
        return _convert.job_info(self._get())

    def events(self, *, timeout: float | None = None) -> Iterator[EpochEvent]:
        """Finished epochs: past ones first, then live ones; stops when the job ends.

        Parameters
        ----------
        timeout : float, optional
            Seconds for the whole stream; default: no limit.

        Yields
        ------
        EpochEvent
            Epochs 1, 2, ... in order (a stream restarted after UNAVAILABLE does not
            repeat epochs). After the last one, ``last_info`` holds the final JobInfo.

        Raises
        ------
        NotFound, InvalidArgument
            Unknown or malformed job id.
        DeadlineExceeded
            ``timeout`` passed first.
        """
        client = self.client
        request = pb.WatchJobRequest(job_id=self.job_id)
        last_epoch = 0

        def ended() -> bool:
            # While the stream is refused (the server's stream limit), a unary GetJob
            # still tells whether the job has finished meanwhile.
            try:
                info = self.info()
            except MotiflensClientError:
                return False
            if info.state in ("SUCCEEDED", "FAILED", "CANCELLED"):
                self.last_info = info
                return True
            return False

        self.last_info = None
        for event in client._stream(
            client._trainer, "WatchJob", request, timeout=timeout, patient=True, give_up=ended
        ):
            payload = event.WhichOneof("payload")
            if payload == "epoch":
                if event.epoch.epoch <= last_epoch:
                    continue
                last_epoch = event.epoch.epoch
                yield _convert.epoch_event(event.epoch)
            elif payload == "final":
                self.last_info = _convert.job_info(event.final)
                return
        if self.last_info is None:  # the stream ended without a final event (not expected)
            self.last_info = self.info()

    def wait(self, *, timeout: float | None = None, progress: bool | None = None) -> JobInfo:
        """Follow the job until it ends.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait; default: no limit.
        progress : bool, optional
            Show progress on stderr: a carriage-return-updated bar with epoch, loss and
            validation AUPR/AUROC (one line per epoch in a notebook). None (default):
            only when stderr is a terminal or inside a notebook.

        Returns
        -------
        JobInfo
            State SUCCEEDED, with ``model_id`` and ``test_metrics``.

        Raises
        ------
        JobFailed
            The job ended FAILED or CANCELLED (``.job`` is its final JobInfo).
        DeadlineExceeded
            ``timeout`` passed first.
        """
        stream = sys.stderr
        notebook = _in_notebook()
        show = progress if progress is not None else (notebook or _is_tty(stream))
        display = None
        if show:
            # A carriage-return bar only on a terminal; notebooks and log files get one line per epoch.
            lines = notebook or not _is_tty(stream)
            display = _Progress(self.job_id, self._get().training.epochs, stream, lines=lines)
        for event in self.events(timeout=timeout):
            if display is not None:
                display.update(event)
        info = self.last_info or self.info()
        if display is not None:
            display.finish(info)
        if info.state in ("FAILED", "CANCELLED"):
            raise JobFailed(info)
        return info

    def cancel(self) -> JobInfo:
        """Cancel the job: a queued one at once, a running one after its current epoch.

        Returns
        -------
        JobInfo
            CANCELLED for a queued job, still RUNNING for a running one (``wait`` then
            raises JobFailed), unchanged for a finished one.
        """
        client = self.client
        response = client._unary(client._trainer, "CancelJob", pb.CancelJobRequest(job_id=self.job_id))
        return _convert.job_info(response.job)


class Sweep:
    """A sweep on the trainer service: a grid of ordinary training jobs.

    Parameters
    ----------
    client : Client
    sweep_id : str
    """

    def __init__(self, client: Client, sweep_id: str) -> None:
        self.client = client
        self.sweep_id = sweep_id

    def __repr__(self) -> str:
        return f"Sweep({self.sweep_id!r})"

    def _get(self, include_jobs: bool) -> pb.GetSweepResponse:
        client = self.client
        request = pb.GetSweepRequest(sweep_id=self.sweep_id, include_jobs=include_jobs)
        return client._unary(client._trainer, "GetSweep", request)

    def info(self) -> SweepInfo:
        """Progress now (in a cluster also the Kubernetes Job's status).

        Raises
        ------
        InvalidArgument, NotFound
            Malformed or unknown sweep id.
        """
        return _convert.sweep_info(self._get(False).sweep)

    def jobs(self) -> list[JobInfo]:
        """Every job of the sweep, in grid order."""
        return [_convert.job_info(job) for job in self._get(True).jobs]

    def job(self, index: int) -> Job:
        """The job of configuration ``index`` (grid order)."""
        return Job(self.client, self.info().job_ids[index])

    def wait(
        self, *, timeout: float | None = None, poll: float = 2.0, progress: bool | None = None
    ) -> SweepInfo:
        """Poll until every job has finished; return the final SweepInfo.

        A sweep in which some jobs failed is still returned (state FAILED, with
        ``failed`` > 0; :meth:`jobs` gives each one's ``error``) rather than raised:
        the other configurations' models are usable.

        Parameters
        ----------
        timeout : float, optional
            Seconds to wait; default: no limit.
        poll : float, default 2.0
            Seconds between GetSweep calls.
        progress : bool, optional
            One line on stderr whenever the counts change (default: when stderr is a
            terminal or in a notebook).

        Raises
        ------
        DeadlineExceeded
            ``timeout`` passed first.
        """
        show = progress if progress is not None else (_in_notebook() or _is_tty(sys.stderr))
        deadline = None if timeout is None else time.monotonic() + timeout
        last = None
        while True:
            info = self.info()
            counts = (info.pending, info.running, info.succeeded, info.failed, info.cancelled)
            if show and counts != last:
                print(
                    f"{self.sweep_id}: {info.succeeded + info.failed + info.cancelled}/{info.total} done "
                    f"({info.running} running, {info.succeeded} succeeded, {info.failed} failed, "
                    f"{info.cancelled} cancelled)",
                    file=sys.stderr,
                    flush=True,
                )
                last = counts
            if info.done:
                return info
            if deadline is not None and time.monotonic() >= deadline:
                raise DeadlineExceeded(
                    f"sweep {self.sweep_id} still {info.state} after {timeout} s "
                    f"({info.succeeded + info.failed + info.cancelled}/{info.total} done)"
                )
            time.sleep(poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic())))

    def model_ids(self) -> list[str]:
        """Model ids of the succeeded configurations, in grid order."""
        return [job.model_id for job in self.jobs() if job.state == "SUCCEEDED"]

    def cancel(self) -> SweepInfo:
        """Cancel every unfinished job (queued ones at once, running ones after their epoch)."""
        client = self.client
        response = client._unary(
            client._trainer, "CancelSweep", pb.CancelSweepRequest(sweep_id=self.sweep_id)
        )
        return _convert.sweep_info(response.sweep)
